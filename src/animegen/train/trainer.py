"""The generic training loop: it knows no model, only the :class:`~animegen.models.base.GenerativeModel`
interface (``make_optimizers``, ``train_step(batch, ctx)``, ``eval_step``, ``decode``/``reconstruct``,
``ema_module``, ``has_encoder``, ``is_adversarial`` and an optional ``batches_per_step``).

A run folder (``<out>/<name>-<n>/``, rank 0 writes everything; names in :mod:`animegen.runs`)::

    config.json                 the fully resolved RunConfig (``--resume`` reads it back)
    metrics.jsonl               one JSON object per log line / event; ``tb/`` TensorBoard events
    samples/step-000500.png     fixed-noise sample grid (EMA weights) every train.sample_every and at the end
    recon/step-000500.png       "Real" over "Guess" rows, for models with an encoder
    step-001000.safetensors     exported model (EMA weights) every train.checkpoint_every; the newest
                                train.keep_checkpoints are kept (0 keeps all); see train.export_priors
    last.safetensors            exported model at the newest checkpoint (also written on Ctrl-C)
    train_state.safetensors     resumable state at the same step: raw weights, optimizers, EMA, RNG, data order
    best.safetensors            exported model with the lowest ``train.best_by`` metric (AE/VAE validation loss;
                                GANs with train.eval_kid: the quick KID on the validation half)
    .lock                       held (``fcntl.flock``) by the one process writing the run
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
* ``train_state.safetensors`` is also written every ``train.state_every_minutes`` of wall time (the state
  alone, no export), so a SIGKILL loses at most that much training.
* A run that trained always leaves a resumable state: any exception after a step (an export or an
  evaluation that fails, a bug) first writes ``train_state.safetensors`` at the newest consistent step,
  and the error says how to resume. Exports, evaluation and state capture live in
  :mod:`animegen.train.export`, :mod:`animegen.train.evaluation` and :mod:`animegen.train.snapshot`.
* One writer per run: the run folder is locked while a process trains it; a second ``--resume`` of
  the same run stops at once with "run R is in use by pid N".
* Ctrl-C / SIGTERM: the current step finishes, a resumable checkpoint is saved, KeyboardInterrupt is
  raised (the CLI exits 130). A second Ctrl-C aborts at once.
* ``train.max_minutes`` (wall clock) and ``train.max_cpu_minutes`` (process CPU time) budget one invocation;
  ``train.lr_decay`` lowers every learning rate over the end of whichever limit ends the run. A run stopped
  before its budget ran out and resumed without a new one finishes that budget, decay included; a new budget or
  a spent one starts afresh (:mod:`animegen.train.schedule`).
* ``train.batch_size`` is the global batch; under data parallelism each rank trains on its share.
"""
from __future__ import annotations

import copy
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from animegen import runs
from animegen.checkpoint import check_shapes
from animegen.config import RunConfig, to_dict
from animegen.data.sources import ImageSet
from animegen.errors import CheckpointError, ConfigError
from animegen.fsutil import atomic_write_json
from animegen.models import MODELS, DataSpec, GenerativeModel
from animegen.progress import bars_enabled, info, is_quiet, progress
from animegen.runs import MetricLogger, RunLock, create_run_dir
from animegen.train import distributed as D
from animegen.train.context import Divergence, TrainContext
from animegen.train.data import BatchLoader, fixed_batches
from animegen.train.device import resolve_device, resolve_precision
from animegen.train.ema import EMA
from animegen.train.evaluation import DIVERSITY_IMAGES, evaluate
from animegen.train.export import (
    checkpoint,
    export_saved_state,
    save_after_crash,
    save_resume_state,
    write_samples,
)
from animegen.train.health import diversity
from animegen.train.quality import QuickQuality
from animegen.train.schedule import budget_used, decay_factor, run_progress
from animegen.train.setup import (
    build_parts,
    dry_run_config,
    install_stop_handlers,
    load_data,
    load_run_config,
    log_start,
    validate_config,
    warn_precision,
)
from animegen.train.snapshot import TrainingDiverged, capture, resume_from, rollback, seed_all
from animegen.train.state import TrainState
from animegen.train.window import LogWindow, log_window, summary_line

STATE_FILE = runs.STATE


# ------------------------------------------------------------------------------------ config helpers


def _every(n: int, step: int) -> bool:
    return n > 0 and step % n == 0


# ------------------------------------------------------------------------------------ the trainer


class Trainer:
    """One training run. ``Trainer(cfg, out_dir).run()`` returns the run folder; see :func:`train`."""

    # built by animegen.train.setup.build_parts before the loop
    model: GenerativeModel
    optimizers: dict[str, torch.optim.Optimizer]
    base_lrs: dict[str, list[float]]  # configured learning rate per optimizer and param group
    ctx: TrainContext
    ema: EMA
    loader: BatchLoader
    train_idx: np.ndarray
    val_idx: np.ndarray
    recon_idx: np.ndarray  # real images of the reconstruction grid
    fixed_z: torch.Tensor  # [n, z] latents of the sample grids and the diversity check
    batches_per_step: int
    images_per_step: int
    snapshot_every: int
    has_buffers: bool

    def __init__(self, cfg: RunConfig | None, out_dir: str | Path = "runs", resume: str | Path | None = None,
                 dry_run: bool = False, data: ImageSet | None = None, fresh_budget: bool = False,
                 export_only: bool = False):
        self.resume_dir = Path(resume) if resume else None
        if export_only and self.resume_dir is None:
            raise ConfigError("--export-only exports a run's saved state: it needs --resume RUN")
        self.export_only = export_only
        self.fresh_budget = fresh_budget  # resume: never continue the saved time budget (a new one was given)
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
        self.data_arg = data
        self.dist = D.DistInfo()
        # set up by _setup() before the loop, the exports or the evaluation use them (rank 0 only: logger)
        self.run_dir: Path = None  # type: ignore[assignment]
        self.logger: MetricLogger = None  # type: ignore[assignment]
        self.step = 0
        self.rollbacks = 0
        self.lr_scale = 1.0
        self.lr_factor = 1.0  # train.lr_decay's factor (animegen.train.schedule)
        self.best: dict | None = None
        self.real_diversity: float | None = None
        self.last_val: dict[str, float] = {}
        self.snapshot: TrainState | None = None
        self._signal: int | None = None
        self.bar = None
        self.last_sample_step = -1
        self.last_eval_step = -1
        self.last_ckpt_step = -1
        self.state_time = 0.0  # perf_counter() at the last train_state write (train.state_every_minutes)
        self._state_due = 0.0  # 1.0 when rank 0 says the state is due at this step
        self.train_seconds = 0.0
        self.last_losses: dict[str, float] = {}
        self.img_per_s = 0.0
        self.quality: QuickQuality | None = None  # train.eval_kid (rank 0)
        self.best_metric: str | None = None
        self.cpu_start = time.process_time()  # reset when the loop starts; the CPU shares are relative to it
        self.wall_start: float | None = None  # perf_counter() when the loop started
        self.budget_offset = (0.0, 0.0)  # (wall, CPU) seconds of a continued budget spent before this process
        self.ended = False  # set for the final export: a resume of it never continues this budget
        self.eval_cpu = 0.0
        self._lock: RunLock | None = None
        self._step_complete = True

    # ---- public ---------------------------------------------------------------------------------
    def run(self) -> Path:
        prev_threads = torch.get_num_threads()
        if self.tc.threads > 0:
            torch.set_num_threads(self.tc.threads)
        local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
        self.device = resolve_device(self.tc.device, local_rank)
        self.dist = D.init_from_env(self.device.type)
        old_handlers: dict[int, Any] = {}
        finished = False
        try:
            self._setup()
            old_handlers = install_stop_handlers(self)
            run_dir = export_saved_state(self) if self.export_only else self._loop()
            finished = True
            return run_dir
        except BaseException as exc:
            save_after_crash(self, exc)
            raise
        finally:
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            if self.bar is not None:
                self.bar.close()
            if self.logger is not None:
                self.logger.close()
            D.cleanup(self.dist, finished)
            if self._lock is not None:
                self._lock.release()
            torch.set_num_threads(prev_threads)

    def request_stop(self) -> None:
        """Stop after the current step and save a resumable checkpoint, as on Ctrl-C (safe from another thread;
        :func:`run` then raises KeyboardInterrupt)."""
        self._signal = signal.SIGINT

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    def budget_spent(self) -> tuple[float, float]:
        """(wall, process-CPU) seconds of this invocation's time budget spent so far, a continued budget's
        earlier share included."""
        wall0, cpu0 = self.budget_offset
        if self.wall_start is None:
            return wall0, cpu0
        return wall0 + time.perf_counter() - self.wall_start, cpu0 + time.process_time() - self.cpu_start

    # ---- set-up ---------------------------------------------------------------------------------
    def say(self, msg: str, always: bool = False) -> None:
        """A status line on stderr from rank 0; ``always``: warnings and notices that --quiet does not hide."""
        if not self.is_main or (is_quiet() and not always):
            return
        if self.bar is not None and bars_enabled():
            self.bar.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr, flush=True)

    def _setup(self) -> None:
        cfg, tc = self.cfg, self.tc
        validate_config(self.cfg)
        if self.resume_dir is not None:
            if self.is_main:  # one writer per run, before anything is read or written
                self._lock = RunLock(self.resume_dir).acquire()
            if not (self.resume_dir / STATE_FILE).is_file():
                raise CheckpointError(f"cannot resume {self.resume_dir}: no {STATE_FILE} (a run saves one every "
                                      "train.checkpoint_every steps, on Ctrl-C and at the end)")
        self.precision = resolve_precision(tc.precision, self.device)
        warn_precision(self)

        ds = load_data(self)
        self.data = ds
        self.spec = DataSpec(channels=ds.channels, size=ds.size)

        if self.resume_dir is not None and cfg.family in MODELS:  # the state's shapes, before allocating
            check_shapes(self.resume_dir / STATE_FILE, MODELS[cfg.family], cfg.model, self.spec, prefix="model/",
                         optional=MODELS[cfg.family].optional_state,
                         source=f"the run's {runs.CONFIG} (and the data shape)")
        build_parts(self)

        if self.resume_dir is not None:
            resume_from(self, self.resume_dir)
        else:
            if self.is_main:
                self.real_diversity = diversity(next(fixed_batches(self.loader, self.train_idx[:DIVERSITY_IMAGES],
                                                                   DIVERSITY_IMAGES)))
            run_dir = create_run_dir(self.out_dir, cfg.name) if self.is_main else None
            self.run_dir = Path(D.broadcast_object(str(run_dir) if run_dir else None, self.dist))
            if self.is_main:
                self._lock = RunLock(self.run_dir).acquire()
                atomic_write_json(self.run_dir / runs.CONFIG, to_dict(cfg))
            # training noise: rank r uses seed + 1_000_003·r (rank 0 = a single-process run)
            seed_all(D.rank_seed(tc.seed, self.dist.rank))
        if self.is_main:
            log_start(self)

    def set_lr_scale(self, scale: float) -> None:
        """Learning rates = configured × ``scale`` (the rollback record) × the decay schedule's factor."""
        self.lr_scale = scale
        for name, opt in self.optimizers.items():
            for g, base in zip(opt.param_groups, self.base_lrs[name], strict=True):
                g["lr"] = base * scale * self.lr_factor

    def schedule_lr(self, progress: float) -> None:
        factor = decay_factor(progress, self.tc.lr_decay, self.tc.lr_decay_to)
        if factor != self.lr_factor:
            self.lr_factor = factor
            self.set_lr_scale(self.lr_scale)

    # ---- the loop -------------------------------------------------------------------------------
    def _loop(self) -> Path:
        tc = self.tc
        total = tc.steps
        if self.step >= total:
            missing = not (self.run_dir / runs.FINAL).exists() if self.is_main else None
            if D.broadcast_object(missing, self.dist):
                self._finish("steps", 0.0, LogWindow())
            self.say(f"{self.run_dir} already finished at step {self.step} (train.steps={total}); "
                      "raise it with --set train.steps=N to train longer")
            return self.run_dir
        if self.is_main:
            self.bar = progress(total=total, initial=self.step, desc=self.run_dir.name, unit="step")
        self.snapshot = capture(self)
        window = LogWindow()
        t_start = self.wall_start = self.state_time = time.perf_counter()
        self.cpu_start = time.process_time()  # process CPU time, all threads
        start_step = self.step
        stop = "steps"
        while self.step < total:
            used = budget_used(tc, *self.budget_spent())
            # every rank agrees on the stop and on the schedule's progress
            state_due = tc.state_every_minutes > 0 and self.is_main \
                and time.perf_counter() - self.state_time >= 60 * tc.state_every_minutes
            interrupted, late, done, self._state_due = D.all_max(
                [self._signal is not None, used >= 1, run_progress(tc, self.step, used), state_due],
                self.dist, self.device)
            if interrupted:
                self._interrupted()
            if late:
                stop = "time"
                break
            self.schedule_lr(done)
            t0 = time.perf_counter()
            batch = self.loader.next()  # [B, C, H, W] in [-1, 1]
            t1 = time.perf_counter()
            self.ctx.step = self.step
            if self.dist.enabled and self.has_buffers:
                D.broadcast_module(self.model, self.dist, buffers_only=True)
            try:
                self._step_complete = False  # a crash from here to the step's end leaves a half-updated model
                scalars = self.model.train_step(batch, self.ctx)
                self.step += 1
                self.ema.update(self.model, self.step)
                self._step_complete = True
                t2 = time.perf_counter()
                self.train_seconds += t2 - t0
                window.add({**{f"train/{k}": v for k, v in scalars.items()},
                            **{f"grad_norm/{k}": v for k, v in self.ctx.grad_norms.items()}}, t1 - t0, t2 - t0)
                if _every(tc.log_every, self.step) or self.step == total:
                    log_window(self, window)
                    window = LogWindow()
                t3 = time.perf_counter()
                self._periodic()
                window.side_s += time.perf_counter() - t3
            except Divergence as err:
                self._step_complete = True  # the rollback restores a consistent snapshot
                rollback(self, err)
                window = LogWindow()
                continue
            if self.bar is not None:
                self.bar.update(self.step - self.bar.n)
        try:
            self._finish(stop, time.perf_counter() - t_start, window, start_step)
        except Divergence as err:
            raise TrainingDiverged(f"training diverged at the very end ({err}); the last good checkpoint is "
                                   f"in {self.run_dir}") from None
        return self.run_dir

    def _periodic(self) -> None:
        tc, s = self.tc, self.step
        if _every(tc.sample_every, s):
            write_samples(self)
        if _every(tc.eval_every, s):
            evaluate(self)
        if s % self.snapshot_every == 0:
            self.snapshot = capture(self)
        if _every(tc.checkpoint_every, s):
            checkpoint(self, "step")
        elif self._state_due:
            save_resume_state(self)

    # ---- rollback -------------------------------------------------------------------------------
    def event(self, event: str, **fields: Any) -> None:
        if self.logger is not None:
            self.logger.log(self.step, {}, event=event, **fields)

    def _interrupted(self) -> None:
        checkpoint(self, "last")
        self.event("interrupted")
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.say(f"interrupted at step {self.step}; saved a resumable checkpoint. "
                  f"Continue with: animegen train --resume {self.run_dir}", True)
        raise KeyboardInterrupt

    def _finish(self, stop: str, elapsed: float, window: LogWindow, start_step: int | None = None) -> None:
        if window.n:
            log_window(self, window)
        write_samples(self)
        if self.tc.eval_every > 0:
            evaluate(self)
        self.ended = True
        checkpoint(self, "final")
        self.event("end", reason=stop)
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.is_main:
            info(summary_line(self, stop, elapsed, start_step))


def train(cfg: RunConfig | None, out_dir: str | Path = "runs", resume: str | Path | None = None,
          dry_run: bool = False, *, data: ImageSet | None = None, fresh_budget: bool = False,
          export_only: bool = False) -> Path:
    """Train ``cfg`` (or continue the run folder ``resume``) and return the run folder.

    ``cfg`` may be None with ``resume``: the run's own ``config.json`` is used. ``data`` (an ImageSet)
    replaces loading ``cfg.data.source``. ``dry_run``: 2 steps on ≤ 64 images, every output written once.
    A resumed run finishes the time budget it was stopped in when ``cfg`` has the same limits, unless
    ``fresh_budget`` (:func:`animegen.train.schedule.unfinished_budget`). ``export_only`` (with ``resume``):
    export the saved state as ``final.safetensors``, no training (:func:`animegen.train.export.export_saved_state`).
    """
    return Trainer(cfg, out_dir, resume=resume, dry_run=dry_run, data=data, fresh_budget=fresh_budget,
                   export_only=export_only).run()
