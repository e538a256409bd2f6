"""What a run writes outside the training loop: sample grids, exported models, the resumable state (also after a crash).

Every export is prepared once per step for all the names it is written under: EMA weights swapped in,
their BatchNorm statistics re-estimated, then ``model.prepare_export`` (the AE/VAE fit their latent prior;
periodic exports fit only its cheap part unless ``train.export_priors = "always"``, and ``best`` gets the rest
at the end, see :func:`finish_best`). :func:`save_crash_state` is the last resort of a run that fails after it
trained: it writes the newest consistent state, so the run can be resumed once the cause is fixed.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from animegen import runs
from animegen.checkpoint import load_model, read_header, save_model
from animegen.train import outputs
from animegen.train.context import Divergence
from animegen.train.data import fixed_batches
from animegen.train.ema import recalibrate_batchnorm
from animegen.train.snapshot import TrainingDiverged, capture
from animegen.train.state import TrainState, save_state

if TYPE_CHECKING:
    from animegen.train.trainer import Trainer

EMA_BN_BATCHES = 16  # batches of prior samples that re-estimate BatchNorm statistics for EMA weights
EXPORT_FIT_IMAGES = 4096  # training images the periodic exports' model.prepare_export gets (the fitted Gaussian)


def rng_fork(device: torch.device):
    """Side work (samples, evaluation, exports) must not move the training RNG: fork it, restore it after."""
    if device.type in ("cuda", "mps"):
        return torch.random.fork_rng(devices=[device.index or 0], device_type=device.type)
    return torch.random.fork_rng(devices=[])


def refresh_ema_batchnorm(tr: Trainer) -> None:
    """With the EMA swapped in: BatchNorm statistics for the averaged weights (see animegen.train.ema)."""
    model = tr.model
    if not tr.ema.has_batchnorm(model) or model.ema_module is None:
        return
    z = model.sample_latent(EMA_BN_BATCHES * tr.tc.batch_size, generator=torch.Generator().manual_seed(tr.tc.seed + 1))
    chunks = iter(z.split(tr.tc.batch_size))
    with tr.ctx.autocast():
        recalibrate_batchnorm(getattr(model, model.ema_module), lambda: model.decode(next(chunks)), EMA_BN_BATCHES)


def write_samples(tr: Trainer) -> None:
    """The fixed-noise sample grid (EMA weights) and, for models with an encoder, the reconstruction grid."""
    if not tr.is_main or tr.tc.n_sample_grid <= 0 or tr.last_sample_step == tr.step:
        return
    tr.last_sample_step = tr.step
    name = outputs.step_name(tr.step, "png")
    with rng_fork(tr.device), tr.ema.swapped(tr.model):
        refresh_ema_batchnorm(tr)
        imgs = outputs.generate(tr.model, tr.fixed_z[: tr.tc.n_sample_grid])  # [n, C, H, W]
        outputs.save_sample_grid(imgs, tr.run_dir / runs.SAMPLES / name)
        if tr.model.has_encoder and len(tr.recon_idx):
            real = next(fixed_batches(tr.loader, tr.recon_idx, len(tr.recon_idx)))
            outputs.save_recon_grid(real, outputs.reconstruct(tr.model, real), tr.run_dir / runs.RECON / name)


def spread(idx: np.ndarray, n: int) -> np.ndarray:
    """``n`` entries of ``idx`` evenly spaced over it (all of them when ``n`` is 0 or at least ``len(idx)``)."""
    if n <= 0 or n >= len(idx):
        return idx
    return idx[np.linspace(0, len(idx) - 1, n).round().astype(np.int64)]


def fit_images(tr: Trainer, costly: bool) -> tuple[np.ndarray, bool]:
    """(training images, whether their mirror images are added) that an export fits the latent priors to.

    Periodic exports (not ``costly``: the fitted Gaussian alone): ``EXPORT_FIT_IMAGES`` unflipped images. Full
    exports: ``train.prior_fit_codes`` codes (0: all), the images and, with ``data.hflip``, their mirror images
    (from two images on: one face and its mirror are no spread to fit a prior to)."""
    if not costly:
        return spread(tr.train_idx, EXPORT_FIT_IMAGES), False
    n = tr.tc.prior_fit_codes
    mirror = tr.cfg.data.hflip and len(tr.train_idx) >= 2 and n != 1
    return spread(tr.train_idx, n // 2 if mirror else n), mirror


def full_fit_codes(tr: Trainer) -> int:
    """How many codes the full exports fit the latent priors to (checked against the model before training)."""
    idx, mirror = fit_images(tr, True)
    return len(idx) * (2 if mirror else 1)


def fit_batches(tr: Trainer, costly: bool):
    """The batches of :func:`fit_images` (``model.prepare_export``'s ``batches``)."""
    idx, mirror = fit_images(tr, costly)

    def batches():
        yield from fixed_batches(tr.loader, idx, tr.tc.batch_size)
        if mirror:
            yield from fixed_batches(tr.loader, idx, tr.tc.batch_size, mirrored=True)
    return batches


def export(tr: Trainer, *names: str, costly: bool = True) -> None:
    """Write the exported model under each of ``names`` (``step-N``/``last``/``best``/``final.safetensors``),
    prepared once for all of them (``costly``: see ``GenerativeModel.prepare_export``)."""
    model = tr.model
    with rng_fork(tr.device), tr.ema.swapped(model):  # the exported weights, in place for prepare_export
        refresh_ema_batchnorm(tr)
        model.prepare_export(fit_batches(tr, costly), tr.ema.enabled, costly)
        state = model.state_dict()
        for name in names:
            kind = "step" if name.startswith("step-") else name.split(".")[0]
            extra = {"run": tr.run_dir.name, "kind": kind, "ema": tr.ema.enabled,
                     "ema_decay": tr.tc.ema_decay if tr.ema.enabled else 0.0, "precision": tr.precision,
                     "data_source": tr.cfg.data.source, "data_fingerprint": tr.data.fingerprint,
                     "val": tr.last_val, "best": tr.best}
            outputs.export_checkpoint(tr.run_dir / name, model, state, tr.step, tr.loader.state.epoch, extra)


def weights_finite(tr: Trainer) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tr.model.state_dict().values() if t.is_floating_point())


def checkpoint(tr: Trainer, kind: str, state: TrainState | None = None) -> None:
    """Write exported model(s) and the resumable state for the current step (``kind``: step/last/final).

    The resumable state is written first: an export that fails never costs the run its progress."""
    if not save_resume_state(tr, state):
        return
    names = [runs.LAST]
    if kind == "step":
        names.insert(0, outputs.step_name(tr.step, "safetensors"))
    if kind == "final":
        names.append(runs.FINAL)
        if tr.best is not None and tr.best["step"] == tr.step and not periodic_costly(tr):
            names.append(runs.BEST)  # exported at this step without its costly priors: one fit for both
    export(tr, *names, costly=kind != "step" or periodic_costly(tr))
    if kind == "step":
        outputs.rotate_step_checkpoints(tr.run_dir, tr.tc.keep_checkpoints)
    if kind == "final":
        finish_best(tr)


def save_resume_state(tr: Trainer, state: TrainState | None = None) -> bool:
    """The resumable state for the current step (``state``, or captured now), without exporting a model: every
    checkpoint's first write, and alone every ``train.state_every_minutes``. Returns whether this rank wrote it
    (rank 0; capturing is collective under data parallelism, so every rank calls this)."""
    if not weights_finite(tr):  # identical on every rank, so every rank raises
        raise Divergence(tr.step, "-", float("nan"), float("nan"), "non-finite weights")
    if state is None:
        state = capture(tr)
    tr.state_time = time.perf_counter()
    if not tr.is_main:
        return False
    save_state(tr.run_dir / runs.STATE, state)
    tr.last_ckpt_step = tr.step
    return True


def periodic_costly(tr: Trainer) -> bool:
    """Whether exports during training (``step-N``, ``last``, ``best``) fit the costly priors too."""
    return tr.tc.export_priors == "always"


def finish_best(tr: Trainer) -> None:
    """At the end of training: fit the costly priors of a ``best.safetensors`` from an earlier step, on a copy
    rebuilt from the file (the trainer's model is untouched); its weights, step and metadata stay as they were."""
    if periodic_costly(tr) or tr.best is None or tr.best["step"] == tr.step:
        return
    refit_best(tr)


def refit_best(tr: Trainer) -> None:
    """Fit the costly priors of ``best.safetensors`` again, on a copy rebuilt from the file (see finish_best)."""
    path = tr.run_dir / runs.BEST
    if not path.is_file():
        return
    header = read_header(path)
    model = load_model(path).to(tr.device)
    with rng_fork(tr.device):
        model.prepare_export(fit_batches(tr, True), tr.ema.enabled, True)
    save_model(path, model, header["step"], header["epoch"], extra=header.get("extra"))


def export_saved_state(tr: Trainer) -> Path:
    """``train --export-only``: ``final.safetensors`` (and ``best`` when it is this step) exported from the resumed
    state with every prior fitted under the current settings (e.g. ``train.prior_fit_codes``), and an older
    ``best``'s priors refitted; no training step. The training state file is not written: the run resumes
    afterwards exactly as before (an unfinished budget stays unfinished). Returns the run folder."""
    if tr.is_main:
        at_step = tr.best is not None and tr.best["step"] == tr.step
        export(tr, runs.FINAL, *([runs.BEST] if at_step else []), costly=True)
        if not at_step:
            refit_best(tr)
    tr.event("export")
    tr.say(f"exported step {tr.step} of {tr.run_dir} as {runs.FINAL}")
    return tr.run_dir


def save_crash_state(tr: Trainer, step_complete: bool) -> int | None:
    """After an exception: write the newest consistent state that is newer than the saved one.

    ``step_complete``: the exception came between steps (evaluation, export…), so the live state is
    consistent; otherwise (inside ``train_step``, some optimizers may have stepped) the in-memory snapshot
    is used. Under data parallelism only the snapshot is used (capturing is collective; the other ranks
    may be gone). Returns the saved step, or None when nothing newer than the file on disk exists.
    """
    if not tr.is_main or tr.run_dir is None:
        return None
    state = None
    if step_complete and not tr.dist.enabled and weights_finite(tr):
        state = capture(tr)
    elif tr.snapshot is not None:
        state = tr.snapshot
    if state is None or state.step <= tr.last_ckpt_step:  # (-1 before any save: a step-0 snapshot counts)
        return None
    save_state(tr.run_dir / runs.STATE, state)
    tr.last_ckpt_step = state.step
    return state.step


def save_after_crash(tr: Trainer, exc: BaseException) -> None:
    """A run that trained always leaves a resumable state; the exception gets a note saying how to resume."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit, TrainingDiverged)) or tr.run_dir is None:
        return  # Ctrl-C and divergence save their own state (a second Ctrl-C means: do not save)
    try:
        saved = save_crash_state(tr, tr._step_complete)
    except Exception as err:  # the original error matters more; say that saving failed too
        add_note(exc, f"could not save a resumable state ({type(err).__name__}: {err})")
        return
    if tr.is_main and tr.last_ckpt_step >= 0:
        what = f"saved a resumable state at step {saved}" if saved is not None else \
            f"the last resumable state is at step {tr.last_ckpt_step}"
        add_note(exc, f"{what}; continue with: animegen train --resume {tr.run_dir}")


def add_note(exc: BaseException, text: str) -> None:
    """``exc.add_note(text)`` (Python ≥ 3.11) on every supported Python; the CLI prints notes on the error line."""
    notes = getattr(exc, "__notes__", None)
    if notes is None:
        try:
            exc.__notes__ = notes = []  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover - an exception type that refuses attributes
            return
    notes.append(text)
