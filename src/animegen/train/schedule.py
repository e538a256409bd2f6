"""Learning-rate decay over the end of a run (``train.lr_decay``, ``train.lr_decay_to``).

Every optimizer's learning rate stays at its configured value until the run is ``1 − lr_decay`` of the way
through, then falls linearly to ``lr_decay_to`` × that value at the end (the linear "warm-down" of e.g.
Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations"). How far the
run is comes from whichever limit ends it first: ``train.steps`` (or ``train.epochs``), or this invocation's
``train.max_minutes`` / ``train.max_cpu_minutes`` — so a run on a CPU budget decays over the last share of
that budget without knowing its step count in advance. A resumed run gets a fresh time budget, and so a
fresh decay; a step target is absolute, so a resumed step-limited run continues its schedule bit-exactly.
The factor multiplies the rollback scale (``train.rollback_lr_factor``), never replaces it.
"""
from __future__ import annotations

from animegen.config import TrainConfig


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
