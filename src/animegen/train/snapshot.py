"""Capture and restore the whole training state of a :class:`~animegen.train.trainer.Trainer`.

The same :class:`~animegen.train.state.TrainState` serves as the file written beside a run's exports
(``train_state.safetensors``), the in-memory rollback snapshot and the state saved when a run crashes.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from animegen import runs
from animegen.config import to_dict
from animegen.errors import AnimegenError, CheckpointError, DataError
from animegen.fsutil import atomic_write_json, atomic_write_text
from animegen.progress import info
from animegen.train import distributed as D
from animegen.train import outputs
from animegen.train.context import Divergence
from animegen.train.schedule import budget_record, unfinished_budget
from animegen.train.state import (
    TrainState,
    capture_rng,
    load_state,
    optimizer_from_flat,
    optimizer_to_flat,
    restore_rng,
)


class TrainingDiverged(AnimegenError):
    """Training kept diverging after ``train.max_rollbacks`` rollbacks."""


if TYPE_CHECKING:
    from animegen.train.trainer import Trainer


def seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    random.seed(seed)


def capture(tr: Trainer) -> TrainState:
    """The whole training state (CPU copies); collective under data parallelism (gathers RNGs)."""
    tensors: dict[str, Tensor] = {}
    for k, v in tr.model.state_dict().items():
        tensors[f"model/{k}"] = v.detach().to("cpu", copy=True)
    optim_meta = {}
    for name, opt in tr.optimizers.items():
        t, m = optimizer_to_flat(opt)
        tensors.update({f"optim/{name}/{k}": v for k, v in t.items()})
        optim_meta[name] = m
    for k, v in tr.ema.tensors().items():
        tensors[f"ema/{k}"] = v.detach().to("cpu", copy=True)
    rng_meta = []
    for r, (t, m) in enumerate(D.gather_objects(capture_rng(), tr.dist)):
        tensors.update({f"rng/{r}/{k}": v for k, v in t.items()})
        rng_meta.append(m)
    tensors["extra/fixed_z"] = tr.fixed_z.detach().to("cpu", copy=True)
    meta = {
        "step": tr.step, "epoch": tr.loader.state.epoch, "loader": tr.loader.state_dict(),
        "rollbacks": tr.rollbacks, "lr_scale": tr.lr_scale, "best": tr.best,
        "real_diversity": tr.real_diversity, "optimizers": optim_meta,
        "scaler": tr.ctx.scaler.state_dict() if tr.ctx.scaler is not None else None,
        "rng": rng_meta, "world_size": tr.dist.world_size, "family": tr.cfg.family,
        "data_fingerprint": tr.data.fingerprint, "precision": tr.precision,
        "train_seconds": tr.train_seconds,
        "budget": budget_record(tr.tc, *tr.budget_spent(), ended=tr.ended),  # read by resume_from, not a rollback
    }
    return TrainState(tensors, meta)


def apply_state(tr: Trainer, st: TrainState) -> None:
    """Restore a captured state (from disk or the in-memory rollback snapshot)."""
    m = st.meta
    saved = st.section("model")
    optional = [k for k in tr.model.optional_state if k not in saved]  # newer than this run (e.g. a fitted mixture)
    try:
        result = tr.model.load_state_dict(saved, strict=not optional)
    except RuntimeError as exc:
        raise CheckpointError(f"the saved weights do not fit the {tr.cfg.family} model of this config "
                              f"({exc})") from None
    if optional and (result.unexpected_keys or set(result.missing_keys) - set(optional)):
        raise CheckpointError(f"the saved weights do not fit the {tr.cfg.family} model of this config (missing "
                              f"{sorted(set(result.missing_keys) - set(optional))[:5]}, unexpected "
                              f"{sorted(result.unexpected_keys)[:5]})")
    for name, opt in tr.optimizers.items():
        if name not in m["optimizers"]:
            raise CheckpointError(f"the saved state has no optimizer '{name}'")
        # clone: load_state_dict may keep the given tensors, and the snapshot must stay pristine
        section = {k: v.clone() for k, v in st.section(f"optim/{name}").items()}
        optimizer_from_flat(opt, section, m["optimizers"][name], where=f"optimizer '{name}': ")
    if tr.ema.enabled:
        tr.ema.load_tensors(st.section("ema"))
    if tr.ctx.scaler is not None:
        # a fresh scaler: a Divergence raised mid-update leaves per-optimizer "unscaled" flags behind
        tr.ctx.scaler = torch.amp.GradScaler(tr.device.type)
        if m.get("scaler"):
            tr.ctx.scaler.load_state_dict(m["scaler"])
    tr.loader.load_state_dict(m["loader"])
    tr.step = int(m["step"])
    tr.rollbacks = int(m.get("rollbacks", 0))
    tr.lr_scale = float(m.get("lr_scale", 1.0))
    tr.best = m.get("best")
    tr.real_diversity = m.get("real_diversity")
    tr.train_seconds = float(m.get("train_seconds", 0.0))
    tr.fixed_z = st.tensors["extra/fixed_z"].clone().to(tr.device)
    tr.set_lr_scale(tr.lr_scale)
    rng = m.get("rng") or []
    r = tr.dist.rank
    if r < len(rng) and int(m.get("world_size", 1)) == tr.dist.world_size:
        restore_rng(st.section(f"rng/{r}"), rng[r])
    else:
        tr.say(f"note: the state was saved with {m.get('world_size', 1)} process(es), now "
               f"{tr.dist.world_size}: noise RNG reseeded (the continuation is not bit-identical)", True)
        seed_all(D.rank_seed(tr.tc.seed, r) + 7919 * tr.step)


def resume_from(tr: Trainer, run_dir: Path) -> None:
    """Continue ``run_dir``: restore its ``train_state.safetensors`` and trim what the interrupted run logged
    after that step (it will be logged again)."""
    path = run_dir / runs.STATE
    if tr.is_main:
        outputs.remove_stale_temp_files(run_dir)
    st = load_state(path)
    if st.meta.get("family") not in (None, tr.cfg.family):
        raise CheckpointError(f"{path}: saved for family {st.meta.get('family')!r}, config says {tr.cfg.family!r}")
    saved_fp = st.meta.get("data_fingerprint")
    if saved_fp and saved_fp != tr.data.fingerprint:
        raise DataError(f"cannot resume {run_dir}: it was trained on data {saved_fp} but "
                        f"'{tr.cfg.data.source}' now gives {tr.data.fingerprint}; pass the original data with --data")
    try:
        apply_state(tr, st)
    except (KeyError, TypeError, ValueError) as exc:  # a header edited by hand or damaged
        raise CheckpointError(f"{path}: training state is incomplete or damaged "
                              f"({type(exc).__name__}: {exc})") from None
    try:
        spent = unfinished_budget(st.meta.get("budget"), tr.tc)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    if spent is not None and not tr.fresh_budget:
        tr.budget_offset = spent
    tr.run_dir = run_dir
    tr.last_ckpt_step = tr.step
    if tr.is_main:
        atomic_write_json(run_dir / runs.CONFIG, to_dict(tr.cfg))
        _truncate_metrics(run_dir, tr.step)
        info(f"resuming {run_dir} from step {tr.step}" + _budget_note(tr))


def _budget_note(tr: Trainer) -> str:
    wall_s, cpu_s = tr.budget_offset
    if wall_s == 0 and cpu_s == 0:
        return ""
    parts = [f"{cpu_s / 60:.1f} of {tr.tc.max_cpu_minutes:g} CPU-minutes" if tr.tc.max_cpu_minutes > 0 else "",
             f"{wall_s / 60:.1f} of {tr.tc.max_minutes:g} minutes" if tr.tc.max_minutes > 0 else ""]
    return f"; finishing the time budget it was stopped in ({', '.join(p for p in parts if p)} spent)"


def _step_of(record: dict) -> int:
    try:
        return int(record.get("step", 0))
    except (TypeError, ValueError):
        return 0


def _truncate_metrics(run_dir: Path, step: int) -> None:
    path = run_dir / runs.METRICS
    if not path.exists():
        return
    keep = [r for r in runs.read_metrics(run_dir) if _step_of(r) <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))


def rollback(tr: Trainer, err: Divergence) -> None:
    """After a divergence: restore the last good snapshot with lower learning rates, or give up after
    ``train.max_rollbacks`` (saving that snapshot as the resumable state)."""
    from animegen.train.export import checkpoint

    tc = tr.tc
    snap = tr.snapshot
    assert snap is not None  # taken before the first step
    if tr.rollbacks >= tc.max_rollbacks:
        n, scale = tr.rollbacks, tr.lr_scale
        apply_state(tr, snap)
        tr.rollbacks, tr.lr_scale = n, scale  # the record, not the snapshot's
        tr.set_lr_scale(scale)
        checkpoint(tr, "last")
        tr.event("diverged", reason=str(err))
        raise TrainingDiverged(
            f"training diverged ({err}) after {tr.rollbacks} rollback(s) (learning rates now ×{tr.lr_scale:g}); "
            f"the last good state (step {snap.step}) is saved in {tr.run_dir}. Lower the learning rates in [model], "
            f"or set train.grad_clip, then resume with "
            f"`animegen train --resume {tr.run_dir} --set train.max_rollbacks={tc.max_rollbacks + 3}`")
    n, scale = tr.rollbacks + 1, tr.lr_scale * tc.rollback_lr_factor
    from_step = tr.step
    apply_state(tr, snap)
    tr.rollbacks, tr.lr_scale = n, scale
    tr.set_lr_scale(scale)
    # different noise for the retry (still deterministic)
    seed_all(D.rank_seed(tc.seed, tr.dist.rank) + 7919 * n + 104_729 * tr.step)
    tr.event("rollback", reason=str(err), from_step=from_step, to_step=tr.step, lr_scale=scale, rollbacks=n)
    tr.say(f"warning: {err}; rolled back to step {tr.step} with learning rates ×{scale:g} "
              f"(rollback {n} of {tc.max_rollbacks})", True)
    if tr.bar is not None:
        tr.bar.n = tr.step
        tr.bar.refresh()
