"""What a run starts from: the config (a recipe, or a run folder's ``config.json`` under ``--resume``), its
checks, its dry-run variant, the images, the model and what trains it (optimizers, step context, EMA, loader),
the start event, and the Ctrl-C / SIGTERM handlers that stop it at a step's end."""
from __future__ import annotations

import copy
import math
import re
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from animegen import runs
from animegen.config import RunConfig
from animegen.data.sources import ImageSet
from animegen.errors import ConfigError, DataError
from animegen.limits import check_run_config
from animegen.models import build_model
from animegen.runs import MetricLogger
from animegen.train import distributed as D
from animegen.train.context import TrainContext
from animegen.train.data import BatchLoader, split_indices
from animegen.train.device import cpu_has_bf16
from animegen.train.ema import EMA
from animegen.train.evaluation import DIVERSITY_IMAGES
from animegen.train.export import full_fit_codes
from animegen.train.quality import QuickQuality, criterion, resolve_best_by
from animegen.train.snapshot import seed_all

if TYPE_CHECKING:
    from animegen.train.trainer import Trainer

DRY_RUN_IMAGES = 64
RECON_IMAGES = 8  # real images of the reconstruction grid
SNAPSHOT_EVERY_MAX = 100  # steps between in-memory rollback snapshots, at most


def load_run_config(run_dir: str | Path) -> RunConfig:
    """The RunConfig saved in a run folder's ``config.json`` (checked: types and bounds)."""
    try:
        return runs.read_run_config(run_dir)
    except ConfigError as exc:
        raise ConfigError(f"cannot resume: {exc}") from None


def validate_config(cfg: RunConfig) -> None:
    """Raise ConfigError (one line) for settings that cannot train, before anything is sized from them."""
    t = cfg.train
    check_run_config(cfg)  # finite, non-negative, bounded
    if not 0 < t.rollback_lr_factor <= 1:
        raise ConfigError("train.rollback_lr_factor must be in (0, 1]")
    if not 0 <= t.ema_decay < 1:
        raise ConfigError("train.ema_decay must be in [0, 1) (0 disables the EMA)")
    if not (0 <= t.lr_decay <= 1 and 0 <= t.lr_decay_to <= 1):
        raise ConfigError("train.lr_decay and train.lr_decay_to must be in [0, 1] (the share of the run over "
                          "which learning rates decay, and their final share)")


def dry_run_config(cfg: RunConfig) -> RunConfig:
    """The smoke-test variant of ``cfg``: 2 steps, tiny batches, every output written once."""
    cfg = copy.deepcopy(cfg)
    t = cfg.train
    t.steps, t.epochs, t.max_minutes, t.max_cpu_minutes = 2, 0.0, 0.0, 0.0
    t.batch_size = min(t.batch_size, 8)
    t.log_every = t.sample_every = t.checkpoint_every = t.eval_every = 2
    t.n_sample_grid = min(t.n_sample_grid, 16)
    m = re.fullmatch(r"synth:(\d+)(.*)", cfg.data.source.strip())
    if m:  # don't render 20,000 synthetic faces for a smoke test
        cfg.data.source = f"synth:{min(int(m.group(1)), DRY_RUN_IMAGES)}{m.group(2)}"
    return cfg


def load_data(tr: Trainer) -> ImageSet:
    """The training images: the ImageSet passed to train(), else ``cfg.data.source`` (rank 0 prepares it first)."""
    cfg = tr.cfg
    if tr.data_arg is not None:
        ds = tr.data_arg
        if ds.size != cfg.data.size or ds.channels != cfg.data.channels:
            raise DataError(f"the given images are {ds.size} px × {ds.channels} channels but the config says "
                            f"data.size={cfg.data.size}, data.channels={cfg.data.channels}")
    else:
        from animegen.data.sources import open_source

        if not tr.is_main:
            D.barrier(tr.dist)  # rank 0 prepares/caches the data first
        ds = open_source(cfg.data.source, size=cfg.data.size, channels=cfg.data.channels,
                         quiet=not tr.is_main)
        if tr.is_main:
            D.barrier(tr.dist)
    if tr.dry_run and len(ds) > DRY_RUN_IMAGES:
        vm = ds.val_mask[:DRY_RUN_IMAGES] if ds.val_mask is not None else None
        ds = ImageSet(ds.images[:DRY_RUN_IMAGES], ds.name, ds.fingerprint, None, vm, ds.meta)
    return ds


def install_stop_handlers(tr: Trainer) -> dict[int, Any]:
    """SIGINT/SIGTERM set ``tr._signal`` (the loop saves a resumable checkpoint after the current step); a second
    one aborts at once. Returns the previous handlers to restore; none are installed off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum, frame):  # noqa: ARG001
        if tr._signal is not None:  # second Ctrl-C: abort now, without saving
            raise KeyboardInterrupt
        tr._signal = signum
        tr.say("stopping after this step to save a resumable checkpoint (Ctrl-C again aborts without saving)", True)

    old: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.getsignal(sig)
        signal.signal(sig, handler)
    return old


def warn_precision(tr: Trainer) -> None:
    """One warning line for a precision that is slow on this device."""
    if tr.precision == "bf16" and tr.device.type == "cpu" and not cpu_has_bf16():
        tr.say("warning: bf16 on a CPU without native bf16 (AVX512-BF16/AMX) is slower than fp32", True)
    if tr.precision == "fp16" and tr.device.type == "cpu":
        tr.say("warning: fp16 on CPU is slow; use train.precision=bf16 or fp32", True)


def build_parts(tr: Trainer) -> None:
    """The model, its optimizers, the step context, the EMA, the split and the loader, in a seeded order
    (a resume rebuilds them identically before loading the state)."""
    cfg, tc, ds = tr.cfg, tr.tc, tr.data
    # the model is initialised identically on every rank (and broadcast from rank 0 anyway)
    seed_all(tc.seed)
    model = build_model(cfg.family, cfg.model, tr.spec).to(tr.device)
    if tc.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    D.broadcast_module(model, tr.dist)
    model.train()
    tr.model = model
    tr.has_buffers = any(True for _ in model.buffers())
    tr.batches_per_step = int(getattr(model, "batches_per_step", 1) or 1)
    tr.optimizers = model.make_optimizers()
    tr.base_lrs = {n: [float(g["lr"]) for g in o.param_groups] for n, o in tr.optimizers.items()}
    tr.ctx = TrainContext(tr.optimizers, device=tr.device, precision=tr.precision,
                          grad_clip=tc.grad_clip, max_grad_norm=tc.max_grad_norm, dist=tr.dist)
    tr.ema = EMA(model, model.ema_module, tc.ema_decay, tc.ema_start)

    tr.train_idx, tr.val_idx = split_indices(len(ds), cfg.data.val_fraction, cfg.data.seed, ds.val_mask)
    model.check_training_set(full_fit_codes(tr))  # e.g. a latent mixture with more components than codes
    tr.images_per_step = tc.batch_size * tr.batches_per_step
    if tc.epochs > 0:  # train.epochs replaces train.steps (config.json records both)
        tc.steps = max(1, math.ceil(tc.epochs * len(tr.train_idx) / tr.images_per_step))
    tr.loader = BatchLoader(ds.images, tr.train_idx, tr.images_per_step, seed=tc.seed,
                            hflip=cfg.data.hflip, device=tr.device, channels_last=tc.channels_last,
                            rank=tr.dist.rank, world_size=tr.dist.world_size)
    # fixed latents for sample grids and the diversity check: their own generator, not the global RNG
    n_fixed = max(tc.n_sample_grid, DIVERSITY_IMAGES)
    tr.fixed_z = model.sample_latent(n_fixed, generator=torch.Generator().manual_seed(tc.seed))
    ref = tr.val_idx if len(tr.val_idx) else tr.train_idx
    tr.recon_idx = ref[:RECON_IMAGES]
    tr.best_metric = resolve_best_by(tr)
    if tc.eval_kid and tr.is_main:
        tr.quality = QuickQuality(tr)
    tr.snapshot_every = max(1, min(tc.checkpoint_every if tc.checkpoint_every > 0 else SNAPSHOT_EVERY_MAX,
                                   SNAPSHOT_EVERY_MAX))


def log_start(tr: Trainer) -> None:
    """Rank 0: open metrics.jsonl / TensorBoard and log the "start" (or "resume") event."""
    tr.logger = MetricLogger(tr.run_dir, purge_step=tr.step + 1 if tr.resume_dir else None)
    tr.logger.log(tr.step, {}, event="resume" if tr.resume_dir else "start", family=tr.cfg.family,
                  device=str(tr.device), precision=tr.precision, world_size=tr.dist.world_size,
                  images=len(tr.data), train_images=len(tr.train_idx), val_images=len(tr.val_idx),
                  data_fingerprint=tr.data.fingerprint, params=sum(p.numel() for p in tr.model.parameters()),
                  best_by=criterion(tr, tr.best_metric),
                  **({"budget_spent_s": dict(zip(("wall", "cpu"), tr.budget_offset, strict=True))}
                     if any(tr.budget_offset) else {}))
