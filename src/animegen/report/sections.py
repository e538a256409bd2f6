"""The sections of a run report. Each is a function ``(run: RunData) -> Section | None`` (None: it does not
apply to this run, e.g. reconstructions of a GAN); :data:`animegen.report.run_report.SECTIONS` lists them
in page order, best pictures first. Add a section by writing such a function and listing it there."""
from __future__ import annotations

import json
import os
import statistics
import sys

import torch

from animegen.imaging import make_grid
from animegen.report import media, plots
from animegen.report.html import Section
from animegen.report.rundata import RunData
from animegen.train.device import cpu_name
from animegen.train.health import COLLAPSE_RATIO

N_SAMPLES = 64
MAX_CURVE_PANELS = 9
OVER_TRAINING = 6  # sample grids shown in "Samples over training"
THUMB_SIDE = 200
WALK_STEPS = 16  # frames between two faces in the interpolation GIF


# ---------------------------------------------------------------------------------------- pictures


def samples(run: RunData) -> Section | None:
    """Fresh samples from the exported model: for AE/VAE the fitted-prior samples first, then N(0, I)."""
    model = run.model()
    if model is None:
        return None
    sec = Section("Samples")
    kinds = [("fitted", "decoded from the Gaussian fitted to the training codes (Ghosh et al. 2020; "
                        "animegen sample --prior fitted)")] if model.fitted_prior() is not None else []
    plain = "decoded from z ~ N(0, I)" if model.has_encoder else "of the generator, z ~ N(0, I)"
    kinds.append(("standard", plain))
    for prior, caption in kinds:
        images = model.sample(N_SAMPLES, generator=torch.Generator().manual_seed(0), prior=prior)  # [N, C, H, W]
        sec.image(media.grid_png(images, nrow=8), f"{N_SAMPLES} samples {caption}, step {run.last_step}")
    return sec


def over_training(run: RunData) -> Section | None:
    """The trainer's fixed-noise sample grids at a few steps, side by side."""
    grids = run.sample_grids
    if not grids:
        return None
    pick = grids if len(grids) <= OVER_TRAINING else [
        grids[round(i * (len(grids) - 1) / (OVER_TRAINING - 1))] for i in range(OVER_TRAINING)]
    strip = media.labelled_strip([media.thumbnail(p, THUMB_SIDE) for _, p in pick], [f"step {s}" for s, _ in pick])
    return Section("Samples over training").image(
        media.png_bytes(strip), "the same latents decoded at successive steps (samples/step-*.png; EMA weights "
        "where the run keeps an EMA)")


def reconstructions(run: RunData) -> Section | None:
    """The last reconstruction grid the trainer wrote (models with an encoder)."""
    grids = run.recon_grids
    if not grids:
        return None
    step, path = grids[-1]
    return Section("Reconstructions").image(path, f"held-out faces (Real) over the model's reconstruction "
                                                  f"(Guess) at step {step}")


def interpolation(run: RunData) -> Section | None:
    """An animated walk through latent space: between the codes of real faces (models with an encoder, when
    the caller supplied faces), else between sampled latents."""
    model = run.model()
    if model is None:
        return None
    from animegen.latent.interpolate import loop

    if model.has_encoder and run.real_images is not None and len(run.real_images) >= 2:
        with torch.no_grad():
            z = model.encode(run.real_images[:4]).float()  # [4, latent]
        what = "the codes of four real faces"
    else:
        prior = "fitted" if model.fitted_prior() is not None else "standard"
        z = model.sample_latent(4, generator=torch.Generator().manual_seed(1), prior=prior)  # [4, latent]
        what = f"four latents drawn from the {'fitted prior' if prior == 'fitted' else 'prior N(0, I)'}"
    frames = loop(model, z, 4 * WALK_STEPS).frames  # [4 * WALK_STEPS, C, H, W]
    size = int(frames[0].shape[-1])
    scale = max(1, 128 // size)
    pics = [make_grid(f[None], padding=0, scale=scale) for f in frames]
    return Section("Latent interpolation").image(media.gif_bytes(pics), f"walking straight lines between {what}",
                                                 width=max(192, size * scale))


# ---------------------------------------------------------------------------------------- curves


def _curve_keys(run: RunData) -> list[str]:
    keys = []
    for k in run.keys("train/"):
        _, ys = run.series(k)
        if len(ys) >= 2 and max(ys) > min(ys):  # constants (a fixed σ, a finished warm-up) say nothing
            keys.append(k)
    keys.sort(key=lambda k: k != "train/loss")
    return keys[:MAX_CURVE_PANELS]


def loss_curves(run: RunData) -> Section | None:
    """One panel per logged training term; the validation value of the same term overlaid."""
    keys = _curve_keys(run)
    if not keys:
        return None
    panels = {}
    for k in keys:
        term = k.split("/", 1)[1]
        lines = {"train": run.series(k)}
        val = run.series(f"val/{term}" if term != "loss" else next(iter(run.keys("val/")), "val/loss"))
        if val[0]:
            lines["validation"] = val
        panels[term] = lines
    sec = Section("Loss curves")
    sec.image(plots.curves_png(panels, xmax=run.last_step or None), "each logged term per step: raw values faint, "
              "an exponential moving average bold; log scale where a term spans more than "
              f"{plots.LOG_RATIO:g}×", plot=True)
    last = {k: run.series(k)[1][-1] for k in keys}
    sec.table(["term", "last logged value"], [[k, v] for k, v in last.items()])
    return sec


def health(run: RunData) -> Section | None:
    """Sample diversity against real data, collapse warnings, rollbacks and the learning-rate scale."""
    ratio = run.series("health/diversity_ratio")
    lr = run.series("lr_scale")
    if not ratio[0] and not lr[0]:
        return None
    rollbacks = [float(e["step"]) for e in run.events("rollback")]
    warnings = run.series("health/collapse_warning")[0]
    sec = Section("Training health")
    sec.image(plots.health_png({"diversity ratio": ratio}, {"lr scale": lr}, rollbacks, warnings,
                               threshold=COLLAPSE_RATIO, xmax=run.last_step or None),
              "left: mean pairwise distance of fixed-noise samples over that of real faces (a mode-collapsing "
              "GAN drops far below 1); right: the learning-rate multiplier, cut at each divergence rollback",
              plot=True)
    ends = run.events("end") + run.events("diverged") + run.events("interrupted")
    stop = ends[-1].get("reason", ends[-1].get("event")) if ends else "still running or killed"
    sec.table(["signal", "value"], [
        ["rollbacks", len(rollbacks)],
        ["collapse warnings", len(warnings)],
        ["last diversity ratio", ratio[1][-1] if ratio[1] else None],
        ["stopped by", stop],
    ])
    return sec


# ---------------------------------------------------------------------------------------- numbers


METRIC_ROWS = [  # (label, path into metrics.json)
    ("FID", ("fid",)), ("KID", ("kid",)), ("KID std", ("kid_std",)), ("precision", ("precision",)),
    ("recall", ("recall",)), ("IS", ("is",)), ("diversity ratio (Inception)", ("diversity", "ratio")),
    ("sharpness ratio", ("sharpness", "ratio")), ("recon PSNR", ("recon", "psnr")), ("recon SSIM", ("recon", "ssim")),
    ("N generated", ("protocol", "n_generated")), ("N real", ("protocol", "n_real")),
]


def dig(d: object, path: tuple[str, ...]) -> object:
    for p in path:
        d = d.get(p) if isinstance(d, dict) else None
    return d


def metrics(run: RunData) -> Section | None:
    """``animegen evaluate``'s metrics.json when present, and the last validation losses of training."""
    val_keys = run.keys("val/")
    if run.evaluation is None and not val_keys:
        return None
    sec = Section("Metrics")
    if run.evaluation is not None:
        rows: list[list[object]] = [[label, v] for label, path in METRIC_ROWS
                                    if (v := dig(run.evaluation, path)) is not None]
        sec.table(["animegen evaluate", "value"], rows)
    else:
        sec.text(f"No metrics.json yet: run `animegen evaluate {run.path / 'final.safetensors'}` for FID, KID, "
                 "precision/recall and more.", cls="muted")
    if val_keys:
        sec.table(["validation (last eval during training)", "value"], [[k, run.series(k)[1][-1]] for k in val_keys
                                                                         if run.series(k)[1]])
    return sec


def _train_seconds(run: RunData) -> float | None:
    """Wall seconds summed over the run's segments (start/resume → end/interrupted/diverged)."""
    total, t0 = 0.0, None
    for r in run.records:
        ev = r.get("event")
        if ev in ("start", "resume"):
            t0 = r["time"]
        elif ev in ("end", "interrupted", "diverged") and t0 is not None:
            total, t0 = total + r["time"] - t0, None
    return total or None


def facts(run: RunData) -> Section | None:
    """Time, throughput, precision, threads, hardware and versions."""
    start = next(iter(run.events("start")), {})
    train_cfg = run.config.get("train", {})
    rate = run.series("perf/img_per_s")[1]
    seconds = _train_seconds(run)
    header = run.model().checkpoint_header if run.checkpoint is not None else {}
    threads = train_cfg.get("threads", 0)
    rows: list[list[object]] = [
        ["run", f"{run.name} ({run.family})"],
        ["steps", f"{run.last_step} of {train_cfg.get('steps')} (batch {train_cfg.get('batch_size')})"],
        ["training wall time", f"{seconds:.1f} s" if seconds else None],
        ["throughput (median of log windows)", f"{statistics.median(rate):.1f} img/s" if rate else None],
        ["images (train / validation)", f"{start.get('train_images')} / {start.get('val_images')}"],
        ["data", run.config.get("data", {}).get("source")],
        ["parameters", f"{start['params']:,}" if "params" in start else None],
        ["device / precision", f"{start.get('device')} / {start.get('precision')} "
                               f"(channels_last {train_cfg.get('channels_last')})"],
        ["processes × threads", f"{start.get('world_size', 1)} × {threads or 'torch default'}"],
        ["trained with", f"animegen {header.get('animegen_version')}, torch {header.get('torch_version')}"
                         if header else None],
        ["report written on", f"{cpu_name()}, {os.cpu_count()} cores; Python {sys.version.split()[0]}, "
                              f"torch {torch.__version__}"],
    ]
    return Section("Run facts").table(["fact", "value"], [r for r in rows if r[1] is not None])


def config(run: RunData) -> Section | None:
    """The fully resolved config.json."""
    return Section("Config").code(json.dumps(run.config, indent=2))
