"""What a run starts from: the config (a recipe, or a run folder's ``config.json`` under ``--resume``), its
checks, its dry-run variant, the images, and the Ctrl-C / SIGTERM handlers that stop it at a step's end."""
from __future__ import annotations

import copy
import re
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from animegen import runs
from animegen.config import RunConfig
from animegen.data.sources import ImageSet
from animegen.errors import ConfigError, DataError
from animegen.limits import check_run_config
from animegen.train import distributed as D

if TYPE_CHECKING:
    from animegen.train.trainer import Trainer

DRY_RUN_IMAGES = 64


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
