"""The generic training loop: it knows no model, only the :class:`~animegen.models.base.GenerativeModel`
interface (``make_optimizers``, ``train_step(batch, ctx)``, ``eval_step``, ``decode``/``reconstruct``,
``ema_module``, ``has_encoder``, ``is_adversarial`` and an optional ``batches_per_step``).

A run folder (``<out>/<name>-<n>/``, rank 0 writes everything)::

    config.json                 the fully resolved RunConfig (``--resume`` reads it back)
    metrics.jsonl               one JSON object per log line / event; ``tb/`` TensorBoard events
    samples/step-000500.png     fixed-noise sample grid (EMA weights) every train.sample_every and at the end
    recon/step-000500.png       "Real" over "Guess" rows, for models with an encoder
    step-001000.safetensors     exported model (EMA weights) every train.checkpoint_every; the newest
                                train.keep_checkpoints are kept (0 keeps all)
    last.safetensors            exported model at the newest checkpoint (also written on Ctrl-C)
    train_state.safetensors     resumable state at the same step: raw weights, optimizers, EMA, RNG, data order
    best.safetensors            exported model with the lowest validation loss (first key of eval_step)
    final.safetensors           exported model at the end (train.steps or train.max_minutes reached)

Guarantees
----------
* Deterministic: the same config and seed give identical weights (data order, noise and init are seeded;
  sampling, evaluation and diversity checks run under ``torch.random.fork_rng`` so they never shift the
  training noise).
* Resumable: ``train(cfg, resume=run_dir)`` continues bit-identically from ``train_state.safetensors``;
  every file is written atomically, so a SIGKILL at any moment leaves the previous checkpoint intact.
* Divergence guard: a non-finite loss or a gradient norm above ``train.max_grad_norm`` stops the update
  before ``optimizer.step()`` (:class:`~animegen.train.context.Divergence`); the trainer restores the last
  good in-memory snapshot (taken every ``min(checkpoint_every, 100)`` steps), multiplies every learning
  rate by ``train.rollback_lr_factor`` and goes on, up to ``train.max_rollbacks`` times, then stops with
  :class:`TrainingDiverged` (after saving the last good state). Nothing non-finite is ever saved.
* Ctrl-C / SIGTERM: the current step finishes, a resumable checkpoint is saved, KeyboardInterrupt is
  raised (the CLI exits 130). A second Ctrl-C aborts at once.
* ``train.max_minutes`` (wall clock) and ``train.max_cpu_minutes`` (process CPU time) budget one invocation
  (a resumed run gets a fresh budget).
* ``train.batch_size`` is the global batch; under data parallelism each rank trains on its share.
"""
from __future__ import annotations

import copy
import json
import math
import os
import random
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from animegen.config import RunConfig, run_config_from_dict, to_dict
from animegen.data.sources import ImageSet
from animegen.errors import AnimegenError, CheckpointError, ConfigError, DataError
from animegen.fsutil import atomic_write_json, atomic_write_text
from animegen.models import DataSpec, build_model
from animegen.progress import bars_enabled, info, is_quiet, progress
from animegen.runs import MetricLogger, create_run_dir, read_metrics
from animegen.train import distributed as D
from animegen.train import outputs
from animegen.train.context import Divergence, TrainContext
from animegen.train.data import BatchLoader, fixed_batches, split_indices
from animegen.train.device import cpu_has_bf16, resolve_device, resolve_precision
from animegen.train.ema import EMA, recalibrate_batchnorm
from animegen.train.health import collapse_warning, diversity
from animegen.train.state import (TrainState, capture_rng, load_state, optimizer_from_flat, optimizer_to_flat,
                                  restore_rng, save_state)

STATE_FILE = "train_state.safetensors"
DRY_RUN_IMAGES = 64
RECON_IMAGES = 8
DIVERSITY_IMAGES = 64
VAL_MAX_IMAGES = 512
SNAPSHOT_EVERY_MAX = 100
EMA_BN_BATCHES = 16  # batches of prior samples that re-estimate BatchNorm statistics for EMA weights
EXPORT_FIT_IMAGES = 4096  # training images handed to model.prepare_export (the AE/VAE fitted prior)


class TrainingDiverged(AnimegenError):
    """Training kept diverging after ``train.max_rollbacks`` rollbacks."""


# ------------------------------------------------------------------------------------ config helpers


def load_run_config(run_dir: str | Path) -> RunConfig:
    """The RunConfig saved in a run folder's ``config.json``."""
    path = Path(run_dir) / "config.json"
    if not Path(run_dir).is_dir():
        raise ConfigError(f"cannot resume: {run_dir} is not a run folder")
    if not path.is_file():
        raise ConfigError(f"cannot resume: {run_dir} has no config.json (is it an animegen run folder?)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    return run_config_from_dict(data)


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


def _every(n: int, step: int) -> bool:
    return n > 0 and step % n == 0


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    random.seed(seed)


def _fmt_time(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class _Window:
    """Scalars and timings accumulated between two log lines (tensors: no host sync per step)."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.n = 0
        self.data_s = 0.0
        self.step_s = 0.0
        self.side_s = 0.0
        """Time spent on samples/evaluation/checkpoints inside the window (not training throughput)."""
        self.t_open = time.perf_counter()

    def add(self, scalars: dict[str, Tensor], data_s: float, step_s: float) -> None:
        for k, v in scalars.items():
            v = v.detach().float() if isinstance(v, Tensor) else torch.tensor(float(v))
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
        self.n += 1
        self.data_s += data_s
        self.step_s += step_s

    def means(self) -> dict[str, float]:
        if not self.sums:
            return {}
        keys = list(self.sums)
        vals = torch.stack([self.sums[k].reshape(()).cpu() for k in keys]) / max(self.n, 1)
        return dict(zip(keys, vals.tolist()))


# ------------------------------------------------------------------------------------ the trainer


class Trainer:
    """One training run. ``Trainer(cfg, out_dir).run()`` returns the run folder; see :func:`train`."""

    def __init__(self, cfg: RunConfig | None, out_dir: str | Path = "runs", resume: str | Path | None = None,
                 dry_run: bool = False, data: ImageSet | None = None):
        self.resume_dir = Path(resume) if resume else None
        if cfg is None:
            if self.resume_dir is None:
                raise ConfigError("train() needs a RunConfig, or resume=RUN_DIR")
            cfg = load_run_config(self.resume_dir)
        cfg = copy.deepcopy(cfg)
        if dry_run:
            if self.resume_dir is not None:
                raise ConfigError("--dry-run cannot be combined with --resume")
            cfg = dry_run_config(cfg)
        self.cfg = cfg
        self.tc = cfg.train
        self.out_dir = Path(out_dir)
        self.dry_run = dry_run
        self._data_arg = data
        self.dist = D.DistInfo()
        self.run_dir: Path | None = None
        self.logger: MetricLogger | None = None
        self.step = 0
        self.rollbacks = 0
        self.lr_scale = 1.0
        self.best: dict | None = None
        self.real_diversity: float | None = None
        self.last_val: dict[str, float] = {}
        self.snapshot: TrainState | None = None
        self._signal: int | None = None
        self._bar = None
        self._last_sample_step = -1
        self._last_eval_step = -1
        self._last_ckpt_step = -1
        self._train_seconds = 0.0

    # ---- public ---------------------------------------------------------------------------------
    def run(self) -> Path:
        prev_threads = torch.get_num_threads()
        if self.tc.threads > 0:
            torch.set_num_threads(self.tc.threads)
        local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
        self.device = resolve_device(self.tc.device, local_rank)
        self.dist = D.init_from_env(self.device.type)
        old_handlers: dict[int, Any] = {}
        try:
            self._setup()
            old_handlers = self._install_signal_handlers()
            return self._loop()
        finally:
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            if self._bar is not None:
                self._bar.close()
            if self.logger is not None:
                self.logger.close()
            D.cleanup(self.dist)
            torch.set_num_threads(prev_threads)

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    # ---- set-up ---------------------------------------------------------------------------------
    def _validate(self) -> None:
        t = self.tc
        if t.steps < 0:
            raise ConfigError("train.steps must be ≥ 0")
        if t.epochs < 0:
            raise ConfigError("train.epochs must be ≥ 0 (0: use train.steps)")
        if t.batch_size < 1:
            raise ConfigError("train.batch_size must be ≥ 1")
        if not 0 < t.rollback_lr_factor <= 1:
            raise ConfigError("train.rollback_lr_factor must be in (0, 1]")
        if not 0 <= t.ema_decay < 1:
            raise ConfigError("train.ema_decay must be in [0, 1) (0 disables the EMA)")
        if t.n_sample_grid < 0:
            raise ConfigError("train.n_sample_grid must be ≥ 0")

    def _say(self, msg: str, always: bool = False) -> None:
        """A status line on stderr from rank 0; ``always``: warnings and notices that --quiet does not hide."""
        if not self.is_main or (is_quiet() and not always):
            return
        if self._bar is not None and bars_enabled():
            self._bar.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr, flush=True)

    def _load_data(self) -> ImageSet:
        cfg = self.cfg
        if self._data_arg is not None:
            ds = self._data_arg
            if ds.size != cfg.data.size or ds.channels != cfg.data.channels:
                raise DataError(f"the given images are {ds.size} px × {ds.channels} channels but the config says "
                                f"data.size={cfg.data.size}, data.channels={cfg.data.channels}")
        else:
            from animegen.data.sources import open_source

            if not self.is_main:
                D.barrier(self.dist)  # rank 0 prepares/caches the data first
            ds = open_source(cfg.data.source, size=cfg.data.size, channels=cfg.data.channels,
                             quiet=not self.is_main)
            if self.is_main:
                D.barrier(self.dist)
        if self.dry_run and len(ds) > DRY_RUN_IMAGES:
            vm = ds.val_mask[:DRY_RUN_IMAGES] if ds.val_mask is not None else None
            ds = ImageSet(ds.images[:DRY_RUN_IMAGES], ds.name, ds.fingerprint, None, vm, ds.meta)
        return ds

    def _setup(self) -> None:
        cfg, tc = self.cfg, self.tc
        self._validate()
        if self.resume_dir is not None and not (self.resume_dir / STATE_FILE).is_file():
            raise CheckpointError(f"cannot resume {self.resume_dir}: no {STATE_FILE} (a run saves one every "
                                  "train.checkpoint_every steps, on Ctrl-C and at the end)")
        self.precision = resolve_precision(tc.precision, self.device)
        if self.precision == "bf16" and self.device.type == "cpu" and not cpu_has_bf16():
            self._say("warning: bf16 on a CPU without native bf16 (AVX512-BF16/AMX) is slower than fp32", True)
        if self.precision == "fp16" and self.device.type == "cpu":
            self._say("warning: fp16 on CPU is slow; use train.precision=bf16 or fp32", True)

        ds = self._load_data()
        self.data = ds
        self.spec = DataSpec(channels=ds.channels, size=ds.size)

        # the model is initialised identically on every rank (and broadcast from rank 0 anyway)
        _seed_all(tc.seed)
        model = build_model(cfg.family, cfg.model, self.spec).to(self.device)
        if tc.channels_last:
            model = model.to(memory_format=torch.channels_last)
        D.broadcast_module(model, self.dist)
        model.train()
        self.model = model
        self._has_buffers = any(True for _ in model.buffers())
        self.batches_per_step = int(getattr(model, "batches_per_step", 1) or 1)
        self.optimizers = model.make_optimizers()
        self.base_lrs = {n: [float(g["lr"]) for g in o.param_groups] for n, o in self.optimizers.items()}
        self.ctx = TrainContext(self.optimizers, device=self.device, precision=self.precision,
                                grad_clip=tc.grad_clip, max_grad_norm=tc.max_grad_norm, dist=self.dist)
        self.ema = EMA(model, model.ema_module, tc.ema_decay, tc.ema_start)

        self.train_idx, self.val_idx = split_indices(len(ds), cfg.data.val_fraction, cfg.data.seed, ds.val_mask)
        model.check_training_set(len(self.train_idx))  # e.g. a latent mixture with more components than codes
        self.images_per_step = tc.batch_size * self.batches_per_step
        if tc.epochs > 0:  # train.epochs replaces train.steps (config.json records both)
            tc.steps = max(1, math.ceil(tc.epochs * len(self.train_idx) / self.images_per_step))
        self.loader = BatchLoader(ds.images, self.train_idx, self.images_per_step, seed=tc.seed,
                                  hflip=cfg.data.hflip, device=self.device, channels_last=tc.channels_last,
                                  rank=self.dist.rank, world_size=self.dist.world_size)
        # fixed latents for sample grids and the diversity check: their own generator, not the global RNG
        n_fixed = max(tc.n_sample_grid, DIVERSITY_IMAGES)
        self.fixed_z = model.sample_latent(n_fixed, generator=torch.Generator().manual_seed(tc.seed))
        ref = self.val_idx if len(self.val_idx) else self.train_idx
        self.recon_idx = ref[:RECON_IMAGES]
        self.snapshot_every = max(1, min(tc.checkpoint_every if tc.checkpoint_every > 0 else SNAPSHOT_EVERY_MAX,
                                         SNAPSHOT_EVERY_MAX))

        if self.resume_dir is not None:
            self._resume()
        else:
            if self.is_main:
                self.real_diversity = diversity(next(fixed_batches(self.loader, self.train_idx[:DIVERSITY_IMAGES],
                                                                   DIVERSITY_IMAGES)))
            run_dir = create_run_dir(self.out_dir, cfg.name) if self.is_main else None
            self.run_dir = Path(D.broadcast_object(str(run_dir) if run_dir else None, self.dist))
            if self.is_main:
                atomic_write_json(self.run_dir / "config.json", to_dict(cfg))
            # training noise: rank r uses seed + 1_000_003·r (rank 0 = a single-process run)
            _seed_all(D.rank_seed(tc.seed, self.dist.rank))
        if self.is_main:
            self.logger = MetricLogger(self.run_dir, purge_step=self.step + 1 if self.resume_dir else None)
            self.logger.log(self.step, {}, event="resume" if self.resume_dir else "start", family=cfg.family,
                            device=str(self.device), precision=self.precision, world_size=self.dist.world_size,
                            images=len(ds), train_images=len(self.train_idx), val_images=len(self.val_idx),
                            data_fingerprint=ds.fingerprint, params=sum(p.numel() for p in model.parameters()))

    def _resume(self) -> None:
        run_dir = self.resume_dir
        path = run_dir / STATE_FILE
        if self.is_main:
            outputs.remove_stale_temp_files(run_dir)
        st = load_state(path)
        if st.meta.get("family") not in (None, self.cfg.family):
            raise CheckpointError(f"{path}: saved for family {st.meta.get('family')!r}, config says {self.cfg.family!r}")
        saved_fp = st.meta.get("data_fingerprint")
        if saved_fp and saved_fp != self.data.fingerprint:
            raise DataError(f"cannot resume {run_dir}: it was trained on data {saved_fp} but "
                            f"'{self.cfg.data.source}' now gives {self.data.fingerprint}; pass the original data with --data")
        self._apply_state(st)
        self.run_dir = run_dir
        self._last_ckpt_step = self.step
        if self.is_main:
            atomic_write_json(run_dir / "config.json", to_dict(self.cfg))
            self._truncate_metrics(self.step)
            info(f"resuming {run_dir} from step {self.step}")

    def _truncate_metrics(self, step: int) -> None:
        """Drop metric lines logged after ``step`` by the interrupted run (they will be logged again)."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        keep = [r for r in read_metrics(self.run_dir) if int(r.get("step", 0)) <= step]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))

    # ---- state capture / restore ----------------------------------------------------------------
    def _capture(self) -> TrainState:
        """The whole training state (CPU copies); collective under data parallelism (gathers RNGs)."""
        tensors: dict[str, Tensor] = {}
        for k, v in self.model.state_dict().items():
            tensors[f"model/{k}"] = v.detach().to("cpu", copy=True)
        optim_meta = {}
        for name, opt in self.optimizers.items():
            t, m = optimizer_to_flat(opt)
            tensors.update({f"optim/{name}/{k}": v for k, v in t.items()})
            optim_meta[name] = m
        for k, v in self.ema.tensors().items():
            tensors[f"ema/{k}"] = v.detach().to("cpu", copy=True)
        rng_meta = []
        for r, (t, m) in enumerate(D.gather_objects(capture_rng(), self.dist)):
            tensors.update({f"rng/{r}/{k}": v for k, v in t.items()})
            rng_meta.append(m)
        tensors["extra/fixed_z"] = self.fixed_z.detach().to("cpu", copy=True)
        meta = {
            "step": self.step, "epoch": self.loader.state.epoch, "loader": self.loader.state_dict(),
            "rollbacks": self.rollbacks, "lr_scale": self.lr_scale, "best": self.best,
            "real_diversity": self.real_diversity, "optimizers": optim_meta,
            "scaler": self.ctx.scaler.state_dict() if self.ctx.scaler is not None else None,
            "rng": rng_meta, "world_size": self.dist.world_size, "family": self.cfg.family,
            "data_fingerprint": self.data.fingerprint, "precision": self.precision,
            "train_seconds": self._train_seconds,
        }
        return TrainState(tensors, meta)

    def _apply_state(self, st: TrainState) -> None:
        """Restore a captured state (from disk or the in-memory rollback snapshot)."""
        m = st.meta
        saved = st.section("model")
        optional = [k for k in self.model.optional_state if k not in saved]  # newer than this run (a fitted prior)
        try:
            result = self.model.load_state_dict(saved, strict=not optional)
        except RuntimeError as exc:
            raise CheckpointError(f"the saved weights do not fit the {self.cfg.family} model of this config ({exc})") from None
        if optional and (result.unexpected_keys or set(result.missing_keys) - set(optional)):
            raise CheckpointError(f"the saved weights do not fit the {self.cfg.family} model of this config (missing "
                                  f"{sorted(set(result.missing_keys) - set(optional))[:5]}, unexpected "
                                  f"{sorted(result.unexpected_keys)[:5]})")
        for name, opt in self.optimizers.items():
            if name not in m["optimizers"]:
                raise CheckpointError(f"the saved state has no optimizer '{name}'")
            # clone: load_state_dict may keep the given tensors, and the snapshot must stay pristine
            section = {k: v.clone() for k, v in st.section(f"optim/{name}").items()}
            optimizer_from_flat(opt, section, m["optimizers"][name], where=f"optimizer '{name}': ")
        if self.ema.enabled:
            self.ema.load_tensors(st.section("ema"))
        if self.ctx.scaler is not None:
            # a fresh scaler: a Divergence raised mid-update leaves per-optimizer "unscaled" flags behind
            self.ctx.scaler = torch.amp.GradScaler(self.device.type)
            if m.get("scaler"):
                self.ctx.scaler.load_state_dict(m["scaler"])
        self.loader.load_state_dict(m["loader"])
        self.step = int(m["step"])
        self.rollbacks = int(m.get("rollbacks", 0))
        self.lr_scale = float(m.get("lr_scale", 1.0))
        self.best = m.get("best")
        self.real_diversity = m.get("real_diversity")
        self._train_seconds = float(m.get("train_seconds", 0.0))
        self.fixed_z = st.tensors["extra/fixed_z"].clone().to(self.device)
        self._set_lr_scale(self.lr_scale)
        rng = m.get("rng") or []
        r = self.dist.rank
        if r < len(rng) and int(m.get("world_size", 1)) == self.dist.world_size:
            restore_rng(st.section(f"rng/{r}"), rng[r])
        else:
            self._say(f"note: the state was saved with {m.get('world_size', 1)} process(es), now "
                      f"{self.dist.world_size}: noise RNG reseeded (the continuation is not bit-identical)", True)
            _seed_all(D.rank_seed(self.tc.seed, r) + 7919 * self.step)

    def _set_lr_scale(self, scale: float) -> None:
        for name, opt in self.optimizers.items():
            for g, base in zip(opt.param_groups, self.base_lrs[name]):
                g["lr"] = base * scale

    # ---- the loop -------------------------------------------------------------------------------
    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum, frame):  # noqa: ARG001
            if self._signal is not None:  # second Ctrl-C: abort now, without saving
                raise KeyboardInterrupt
            self._signal = signum
            self._say("stopping after this step to save a resumable checkpoint (Ctrl-C again aborts without saving)",
                      True)

        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.getsignal(sig)
            signal.signal(sig, handler)
        return old

    def _loop(self) -> Path:
        tc = self.tc
        total = tc.steps
        if self.step >= total:
            missing = not (self.run_dir / "final.safetensors").exists() if self.is_main else None
            if D.broadcast_object(missing, self.dist):
                self._finish("steps", 0.0, _Window())
            self._say(f"{self.run_dir} already finished at step {self.step} (train.steps={total}); "
                      "raise it with --set train.steps=N to train longer")
            return self.run_dir
        if self.is_main:
            self._bar = progress(total=total, initial=self.step, desc=self.run_dir.name, unit="step")
        self.snapshot = self._capture()
        window = _Window()
        t_start = time.perf_counter()
        cpu_start = time.process_time()
        cpu_budget = float(getattr(tc, "max_cpu_minutes", 0.0) or 0.0) * 60  # process CPU time, all threads
        start_step = self.step
        stop = "steps"
        while self.step < total:
            flags = [self._signal is not None,
                     (tc.max_minutes > 0 and time.perf_counter() - t_start >= tc.max_minutes * 60)
                     or (cpu_budget > 0 and time.process_time() - cpu_start >= cpu_budget)]
            interrupted, out_of_time = D.any_flag(flags, self.dist, self.device)
            if interrupted:
                self._interrupted()
            if out_of_time:
                stop = "time"
                break
            t0 = time.perf_counter()
            batch = self.loader.next()  # [B, C, H, W] in [-1, 1]
            t1 = time.perf_counter()
            self.ctx.step = self.step
            if self.dist.enabled and self._has_buffers:
                D.broadcast_module(self.model, self.dist, buffers_only=True)
            try:
                scalars = self.model.train_step(batch, self.ctx)
                self.step += 1
                self.ema.update(self.model, self.step)
                t2 = time.perf_counter()
                self._train_seconds += t2 - t0
                window.add({**{f"train/{k}": v for k, v in scalars.items()},
                            **{f"grad_norm/{k}": v for k, v in self.ctx.grad_norms.items()}}, t1 - t0, t2 - t0)
                if _every(tc.log_every, self.step) or self.step == total:
                    self._log(window)
                    window = _Window()
                t3 = time.perf_counter()
                self._periodic()
                window.side_s += time.perf_counter() - t3
            except Divergence as err:
                self._rollback(err)
                window = _Window()
                continue
            if self._bar is not None:
                self._bar.update(self.step - self._bar.n)
        try:
            self._finish(stop, time.perf_counter() - t_start, window, start_step)
        except Divergence as err:
            raise TrainingDiverged(f"training diverged at the very end ({err}); the last good checkpoint is "
                                   f"in {self.run_dir}") from None
        return self.run_dir

    def _log(self, window: _Window) -> None:
        means = window.means()
        bad = [k for k, v in means.items() if k.startswith("train/") and not math.isfinite(v)]
        if D.any_flag([bool(bad)], self.dist, self.device)[0]:  # every rank takes the same decision
            raise Divergence(self.step, "-", float("nan"), float("nan"),
                             f"train_step logged non-finite {bad[0] if bad else 'values on another rank'}")
        if not self.is_main:
            return
        n_img = self.images_per_step * window.n
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # kernels run asynchronously: time what has finished
        busy = max(time.perf_counter() - window.t_open - window.side_s, 1e-9)  # wall time of the training steps
        self._img_per_s = n_img / busy
        scalars = {**means, "perf/img_per_s": self._img_per_s, "perf/data_share": window.data_s / busy,
                   "perf/step_ms": 1000 * busy / max(window.n, 1), "lr_scale": self.lr_scale,
                   "epoch": self.loader.epoch_float}
        self.logger.log(self.step, scalars)
        self._last_losses = {k[6:]: v for k, v in means.items() if k.startswith("train/")}
        if self._bar is not None:
            shown = list(self._last_losses.items())[:3]
            self._bar.set_postfix_str(" ".join(f"{k} {v:.4g}" for k, v in shown) + f" | {self._img_per_s:.0f} img/s")

    def _periodic(self) -> None:
        tc, s = self.tc, self.step
        if _every(tc.sample_every, s):
            self._write_samples()
        if _every(tc.eval_every, s):
            self._evaluate()
        if s % self.snapshot_every == 0:
            self.snapshot = self._capture()
        if _every(tc.checkpoint_every, s):
            self._checkpoint("step")

    # ---- rollback -------------------------------------------------------------------------------
    def _rollback(self, err: Divergence) -> None:
        tc = self.tc
        snap = self.snapshot
        if self.rollbacks >= tc.max_rollbacks:
            n, scale = self.rollbacks, self.lr_scale
            self._apply_state(snap)
            self.rollbacks, self.lr_scale = n, scale  # the record, not the snapshot's
            self._set_lr_scale(scale)
            self._checkpoint("last")
            self._event("diverged", reason=str(err))
            raise TrainingDiverged(
                f"training diverged ({err}) after {self.rollbacks} rollback(s) (learning rates now ×{self.lr_scale:g}); "
                f"the last good state (step {snap.step}) is saved in {self.run_dir}. Lower the learning rates in [model], or set train.grad_clip, then resume with "
                f"`animegen train --resume {self.run_dir} --set train.max_rollbacks={tc.max_rollbacks + 3}`")
        n, scale = self.rollbacks + 1, self.lr_scale * tc.rollback_lr_factor
        from_step = self.step
        self._apply_state(snap)
        self.rollbacks, self.lr_scale = n, scale
        self._set_lr_scale(scale)
        # different noise for the retry (still deterministic)
        _seed_all(D.rank_seed(tc.seed, self.dist.rank) + 7919 * n + 104_729 * self.step)
        self._event("rollback", reason=str(err), from_step=from_step, to_step=self.step, lr_scale=scale, rollbacks=n)
        self._say(f"warning: {err}; rolled back to step {self.step} with learning rates ×{scale:g} "
                  f"(rollback {n} of {tc.max_rollbacks})", True)
        if self._bar is not None:
            self._bar.n = self.step
            self._bar.refresh()

    def _event(self, event: str, **fields: Any) -> None:
        if self.logger is not None:
            self.logger.log(self.step, {}, event=event, **fields)

    # ---- outputs --------------------------------------------------------------------------------
    def _rng_fork(self):
        """Side work (samples, evaluation) must not move the training RNG: fork it, restore it after."""
        if self.device.type in ("cuda", "mps"):
            return torch.random.fork_rng(devices=[self.device.index or 0], device_type=self.device.type)
        return torch.random.fork_rng(devices=[])

    def _write_samples(self) -> None:
        if not self.is_main or self.tc.n_sample_grid <= 0 or self._last_sample_step == self.step:
            return
        self._last_sample_step = self.step
        name = outputs.step_name(self.step, "png")
        with self._rng_fork(), self.ema.swapped(self.model):
            self._refresh_ema_batchnorm()
            imgs = outputs.generate(self.model, self.fixed_z[: self.tc.n_sample_grid])  # [n, C, H, W]
            outputs.save_sample_grid(imgs, self.run_dir / "samples" / name)
            if self.model.has_encoder and len(self.recon_idx):
                real = next(fixed_batches(self.loader, self.recon_idx, len(self.recon_idx)))
                outputs.save_recon_grid(real, outputs.reconstruct(self.model, real), self.run_dir / "recon" / name)

    def _evaluate(self) -> None:
        """Validation loss of the exported (EMA) model, and the diversity of the training generator."""
        if not self.is_main or self._last_eval_step == self.step:
            return
        self._last_eval_step = self.step
        scalars: dict[str, float] = {}
        model = self.model
        with self._rng_fork():
            if len(self.val_idx):
                sums: dict[str, float] = {}
                count = 0
                with self.ema.swapped(model):
                    was = model.training
                    model.eval()
                    try:
                        idx = self.val_idx[:VAL_MAX_IMAGES]
                        for batch in fixed_batches(self.loader, idx, self.tc.batch_size):
                            with torch.no_grad(), self.ctx.autocast():
                                out = model.eval_step(batch)
                            for k, v in out.items():
                                sums[k] = sums.get(k, 0.0) + float(v) * batch.shape[0]
                            count += batch.shape[0]
                    finally:
                        model.train(was)
                if sums:
                    self.last_val = {k: v / count for k, v in sums.items()}
                    scalars.update({f"val/{k}": v for k, v in self.last_val.items()})
            gen = outputs.generate(model, self.fixed_z[:DIVERSITY_IMAGES])
        div = diversity(gen)
        scalars["health/diversity"] = div
        if self.real_diversity:
            scalars["health/diversity_ratio"] = div / self.real_diversity
            warmup = min(max(200, self.tc.steps // 10), self.tc.steps)  # early samples are not diverse yet
            msg = collapse_warning(self.step, div, self.real_diversity) if self.step >= warmup else None
            if msg and self.model.is_adversarial:
                self._say(msg, True)
                scalars["health/collapse_warning"] = 1.0
        self.logger.log(self.step, scalars)
        if self.last_val:
            key, value = next(iter(self.last_val.items()))
            if math.isfinite(value) and (self.best is None or value < self.best["value"]):
                self.best = {"metric": f"val/{key}", "value": value, "step": self.step}
                self._export("best.safetensors")

    def _export(self, *names: str) -> None:
        """Write the exported model under each of ``names`` (``step-N``/``last``/``best``/``final.safetensors``),
        prepared once for all of them: EMA weights swapped in, their BatchNorm statistics re-estimated, then
        ``model.prepare_export`` (the AE/VAE fit their latent prior)."""
        model = self.model
        idx = self.train_idx[:EXPORT_FIT_IMAGES]
        with self._rng_fork(), self.ema.swapped(model):  # the exported weights, in place for prepare_export
            self._refresh_ema_batchnorm()
            model.prepare_export(lambda: fixed_batches(self.loader, idx, self.tc.batch_size), self.ema.enabled)
            state = model.state_dict()
            for name in names:
                kind = "step" if name.startswith("step-") else name.split(".")[0]
                extra = {"run": self.run_dir.name, "kind": kind, "ema": self.ema.enabled,
                         "ema_decay": self.tc.ema_decay if self.ema.enabled else 0.0, "precision": self.precision,
                         "data_source": self.cfg.data.source, "data_fingerprint": self.data.fingerprint,
                         "val": self.last_val, "best": self.best}
                outputs.export_checkpoint(self.run_dir / name, model, state, self.step, self.loader.state.epoch, extra)

    def _refresh_ema_batchnorm(self) -> None:
        """With the EMA swapped in: BatchNorm statistics for the averaged weights (see animegen.train.ema)."""
        if not self.ema.has_batchnorm(self.model):
            return
        z = self.model.sample_latent(EMA_BN_BATCHES * self.tc.batch_size,
                                     generator=torch.Generator().manual_seed(self.tc.seed + 1))
        chunks = iter(z.split(self.tc.batch_size))
        with self.ctx.autocast():
            recalibrate_batchnorm(getattr(self.model, self.model.ema_module), lambda: self.model.decode(next(chunks)),
                                  EMA_BN_BATCHES)

    def _weights_finite(self) -> bool:
        return all(bool(torch.isfinite(t).all()) for t in self.model.state_dict().values() if t.is_floating_point())

    def _checkpoint(self, kind: str, state: TrainState | None = None) -> None:
        """Write exported model(s) and the resumable state for the current step (``kind``: step/last/final)."""
        if not self._weights_finite():  # identical on every rank, so every rank raises
            raise Divergence(self.step, "-", float("nan"), float("nan"), "non-finite weights")
        if state is None:
            state = self._capture()
        if not self.is_main:
            return
        names = ["last.safetensors"]
        if kind == "step":
            names.insert(0, outputs.step_name(self.step, "safetensors"))
        if kind == "final":
            names.append("final.safetensors")
        self._export(*names)
        if kind == "step":
            outputs.rotate_step_checkpoints(self.run_dir, self.tc.keep_checkpoints)
        save_state(self.run_dir / STATE_FILE, state)
        self._last_ckpt_step = self.step

    def _interrupted(self) -> None:
        self._checkpoint("last")
        self._event("interrupted")
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._say(f"interrupted at step {self.step}; saved a resumable checkpoint. "
                  f"Continue with: animegen train --resume {self.run_dir}", True)
        raise KeyboardInterrupt

    def _finish(self, stop: str, elapsed: float, window: _Window, start_step: int | None = None) -> None:
        if window.n:
            self._log(window)
        self._write_samples()
        if self.tc.eval_every > 0:
            self._evaluate()
        self._checkpoint("final")
        self._event("end", reason=stop)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if not self.is_main:
            return
        done = self.step - (start_step if start_step is not None else self.step)
        rate = done * self.images_per_step / max(elapsed, 1e-9) if done else 0.0
        losses = ", ".join(f"{k} {v:.4g}" for k, v in list(getattr(self, "_last_losses", {}).items())[:4])
        why = " (time budget reached)" if stop == "time" else ""
        val = f", val {next(iter(self.last_val))} {next(iter(self.last_val.values())):.4g}" if self.last_val else ""
        info(f"done: step {self.step}/{self.tc.steps}{why} in {_fmt_time(elapsed)} ({rate:.0f} img/s); "
             f"{losses}{val}; rollbacks {self.rollbacks}; model: {self.run_dir / 'final.safetensors'}")


def train(cfg: RunConfig | None, out_dir: str | Path = "runs", resume: str | Path | None = None,
          dry_run: bool = False, *, data: ImageSet | None = None) -> Path:
    """Train ``cfg`` (or continue the run folder ``resume``) and return the run folder.

    ``cfg`` may be None with ``resume``: the run's own ``config.json`` is used. ``data`` (an ImageSet)
    replaces loading ``cfg.data.source``. ``dry_run``: 2 steps on ≤ 64 images, every output written once.
    """
    return Trainer(cfg, out_dir, resume=resume, dry_run=dry_run, data=data).run()
