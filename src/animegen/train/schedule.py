"""Learning-rate decay over the end of a run (``train.lr_decay``, ``train.lr_decay_to``).

Every optimizer's learning rate stays at its configured value until the run is ``1 − lr_decay`` of the way
through, then falls linearly to ``lr_decay_to`` × that value at the end (the linear "warm-down" of e.g.
Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations"). How far the
run is comes from whichever limit ends it first: ``train.steps`` (or ``train.epochs``), or this invocation's
``train.max_minutes`` / ``train.max_cpu_minutes`` — so a run on a CPU budget decays over the last share of
that budget without knowing its step count in advance. A step target is absolute, so a resumed step-limited
run continues its schedule bit-exactly. The factor multiplies the rollback scale (``train.rollback_lr_factor``),
never replaces it.

Every saved training state records the invocation's budget and what it had spent (:func:`budget_record`). A run
stopped before its budget ran out (Ctrl-C, a crash, a kill) and resumed without a new budget continues that one
(:func:`unfinished_budget`): it trains for the time left and its decay goes on where it was. A run resumed with a
new ``train.max_minutes`` / ``train.max_cpu_minutes``, or one that ended (its budget spent or its steps reached),
gets a fresh budget and a fresh decay.
"""
from __future__ import annotations

import math
from typing import Any

from animegen.config import TrainConfig
from animegen.errors import CheckpointError


def budget_used(tc: TrainConfig, wall_s: float, cpu_s: float) -> float:
    """The largest share of this invocation's time budgets spent (``max_minutes`` wall clock, ``max_cpu_minutes``
    process CPU); 0 without a time budget. At 1 or more the run is out of time."""
    shares = [0.0]
    if tc.max_minutes > 0:
        shares.append(wall_s / (tc.max_minutes * 60))
    if tc.max_cpu_minutes > 0:
        shares.append(cpu_s / (tc.max_cpu_minutes * 60))
    return max(shares)


def run_progress(tc: TrainConfig, step: int, used: float) -> float:
    """How far through the run it is, in [0, 1]: the larger of the step fraction and ``used``
    (:func:`budget_used`)."""
    return min(1.0, max(step / tc.steps if tc.steps > 0 else 0.0, used))


def decay_factor(progress: float, share: float, final: float) -> float:
    """1 before the last ``share`` of the run, then linear down to ``final`` at progress 1."""
    if share <= 0 or progress <= 1 - share:
        return 1.0
    t = min(1.0, (progress - (1 - share)) / share)
    return 1.0 + (final - 1.0) * t


def budget_record(tc: TrainConfig, wall_s: float, cpu_s: float, ended: bool = False) -> dict[str, Any]:
    """What a training state stores of this invocation's budget: its limits, the time spent so far and whether
    the invocation ended (its final export: out of time or at ``train.steps``)."""
    return {"max_minutes": float(tc.max_minutes), "max_cpu_minutes": float(tc.max_cpu_minutes),
            "wall_s": float(wall_s), "cpu_s": float(cpu_s), "ended": bool(ended)}


def unfinished_budget(record: Any, tc: TrainConfig) -> tuple[float, float] | None:
    """The (wall, CPU) seconds already spent of a saved budget that the resumed run should continue, or None
    when it starts a fresh one: no record (an older state), a run that ended (at its steps or out of time), no
    time budget, other limits in ``tc`` than the record's. CheckpointError for a record whose limits and times are
    not finite, non-negative numbers (a damaged or hand-edited header)."""
    if record is None:
        return None
    keys = ("max_minutes", "max_cpu_minutes", "wall_s", "cpu_s")
    try:
        if not isinstance(record, dict):
            raise TypeError
        values = [float(record[k]) for k in keys]
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"the training state's budget record is damaged: {str(record)[:120]}") from None
    max_minutes, max_cpu_minutes, wall_s, cpu_s = values
    if record.get("ended") is not False or (max_minutes == 0 and max_cpu_minutes == 0):
        return None
    if (max_minutes, max_cpu_minutes) != (float(tc.max_minutes), float(tc.max_cpu_minutes)):
        return None
    if budget_used(tc, wall_s, cpu_s) >= 1:
        return None
    return wall_s, cpu_s
