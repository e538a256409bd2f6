"""The demo pipeline behind ``animegen demo`` / ``make demo``: faces → a VAE and a small GAN → one report page.

Stages (``--minutes`` M scales all of them; M = 4 keeps the whole demo within 5 minutes on 2 CPU cores):

1. data: render ``n`` procedural faces (``synth:N:SEED``; default ``2000 · M``, at most 8,000), or read
   ``--data``;
2. a VAE (Kingma & Welling 2014) and
3. a DCGAN (Radford et al. 2016; the ``fast`` preset that ``configs/gan-recommended.toml`` spells out, at batch
   32 and without that recipe's 64 px generator block, learning rate 4e-4 and decay), trained side by side for
   M minutes each, half the cores each (:func:`animegen.train.side_by_side.train_side_by_side`: these small
   models gain less than twice the speed from a second thread, so each makes more steps than in its share of M
   one after the other); on one core, one after the other, ``VAE_SHARE · M`` and ``GAN_SHARE · M`` minutes;
4. pictures (``out/*.png``, ``out/interpolation.gif``): training faces, fitted-prior and N(0, I) VAE samples,
   GAN samples, reconstructions, an interpolation GIF;
5. ``out/index.html``: the best samples first, then each run's curves, health, grids, metrics and facts
   (every run folder also gets its own ``report.html``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from animegen.config import DataConfig, RunConfig, TrainConfig, apply_overrides, model_config_class
from animegen.errors import AnimegenError
from animegen.imaging import make_grid, save_gif, save_grid, to_tensor
from animegen.progress import info

# the VAE the demo trains (each choice measured in BENCHMARKS.md): the shared conv backbone with RGB skips in the
# decoder (without them hair colour survives the reconstruction only after about twice the steps the demo has); a
# calibrated Gaussian likelihood (σ² = the batch's MSE, σ-VAE, Rybkin et al. 2021: N(0, I) samples are faces, not one
# grey average as with a fixed σ = 0.1), short warm-up; an MMD term that pulls the batch's codes onto N(0, I)
# (InfoVAE, Zhao et al. 2019: without it N(0, I) samples have one or two hair colours, the codes' centre).
# demo_config trains it at batch 32 with a learning-rate decay over the last 30 % of its time.
DEMO_VAE = ["model.latent_dim=64", "model.rgb_skips=true", "model.calibrate_obs_std=true", "model.obs_std=0.25",
            "model.kl_warmup_steps=300", "model.lr=1e-3", "model.mmd_weight=3000"]
# the GAN: the recommended recipe's generator/discriminator; an EMA that starts early, since the run is short
DEMO_GAN = ["model.arch=fast"]
VAE_SHARE = 0.45
GAN_SHARE = 0.55
FACES_PER_MINUTE = 2000
MAX_FACES = 8000
MIN_FACES = 256
SIZES = (32, 64, 128)


@dataclass
class DemoBudget:
    """Minutes of training per model for a demo of ``minutes``: all of them each when the two train side by side,
    else shares (the GAN gets the larger one: it learns slower)."""

    vae: float
    gan: float
    side_by_side: bool = False

    @classmethod
    def split(cls, minutes: float, gan: bool = True, side_by_side: bool = False) -> DemoBudget:
        if not gan:
            return cls(vae=minutes, gan=0.0)
        if side_by_side:
            return cls(vae=minutes, gan=minutes, side_by_side=True)
        return cls(vae=minutes * VAE_SHARE, gan=minutes * GAN_SHARE)


def default_faces(minutes: float) -> int:
    return int(min(MAX_FACES, max(MIN_FACES, round(FACES_PER_MINUTE * minutes))))


def demo_config(minutes: float, n: int, size: int, seed: int, source: str | None = None) -> RunConfig:
    """The VAE run (``minutes`` of wall-clock training; batch 32, learning rate decayed over the last 30 %)."""
    cfg = RunConfig(family="vae", name="vae-demo", model=model_config_class("vae")(),
                    data=DataConfig(source=source or f"synth:{n}:{seed}", size=size, channels=3, hflip=True,
                                    seed=seed),
                    train=TrainConfig(steps=1_000_000, max_minutes=minutes, batch_size=32, seed=seed, ema_decay=0.0,
                                      lr_decay=0.3, sample_every=200, checkpoint_every=500, eval_every=250,
                                      log_every=25, prior_fit_codes=4096))  # only a Gaussian to fit: a short export
    return apply_overrides(cfg, DEMO_VAE)


def gan_config(minutes: float, source: str, size: int, seed: int) -> RunConfig:
    """The GAN run: DCGAN ``fast`` preset, batch 32, EMA of G (decay 0.995 from step 100)."""
    cfg = RunConfig(family="dcgan", name="gan-demo", model=model_config_class("dcgan")(),
                    data=DataConfig(source=source, size=size, channels=3, hflip=True, seed=seed),
                    train=TrainConfig(steps=1_000_000, max_minutes=minutes, batch_size=32, seed=seed, ema_decay=0.995,
                                      ema_start=100, sample_every=100, checkpoint_every=500, eval_every=100,
                                      log_every=20))
    return apply_overrides(cfg, DEMO_GAN)


OUTPUTS = ("training_faces.png", "samples.png", "samples_fitted.png", "reconstructions.png", "interpolation.gif",
           "gan_samples.png", "index.html")
"""The files the demo writes at the top of its folder (besides ``runs/``)."""


def _check(out: Path, data: str | None, size: int, minutes: float) -> None:
    from animegen.fsutil import check_dir_output, check_output

    check_output(out, [data] if data and not data.startswith(("synth:", "mnist:", "hf:")) else [], kind="dir")
    check_dir_output(out, OUTPUTS)  # before any work: never over a file we did not write
    if size not in SIZES:
        raise AnimegenError(f"--size must be one of {', '.join(map(str, SIZES))} (got {size})")
    if not (math.isfinite(minutes) and minutes > 0):
        raise AnimegenError(f"--minutes must be positive (got {minutes})")


def cap_steps(cfg: RunConfig, steps: int | None) -> RunConfig:
    """Stop after ``steps`` (smoke tests) of at most 16 images, with logs, grids and evaluations spread over them."""
    if steps:
        t = cfg.train
        t.steps = steps
        t.batch_size = min(t.batch_size, 16)
        t.log_every = t.sample_every = t.eval_every = max(1, steps // 3)
        t.checkpoint_every = steps
        t.ema_start = min(t.ema_start, steps // 2)
    return cfg


def run_demo(out: str | Path, minutes: float = 4.0, n: int | None = None, size: int = 64, seed: int = 0,
             data: str | None = None, gan: bool = True, steps: int | None = None) -> Path:
    """Run the demo into ``out`` and return the path of its ``index.html`` (see the module doc).

    ``steps``: also stop each training run after this many steps (smoke tests; the time budget still applies).
    """
    from animegen.checkpoint import load_model
    from animegen.cpus import usable_cores
    from animegen.data.sources import open_source
    from animegen.latent.interpolate import loop
    from animegen.report import write_report
    from animegen.report.demo_page import DemoResult, write_demo_page
    from animegen.report.rundata import FACES, RunData
    from animegen.runs import FINAL
    from animegen.train.side_by_side import train_side_by_side
    from animegen.train.trainer import train

    out = Path(out)
    _check(out, data, size, minutes)
    budget = DemoBudget.split(minutes, gan, side_by_side=usable_cores() >= 2)
    stages = 5 if gan else 4
    t0 = time.time()
    if data is None:
        n = n or default_faces(minutes)
        source = f"synth:{n}:{seed}"
        info(f"[1/{stages}] rendering {n} procedural faces at {size}px ({source})")
    else:
        source = data
        info(f"[1/{stages}] reading your images from {data}")
    images = open_source(source, size=size, channels=3)
    if len(images) < 16:
        raise AnimegenError(f"{source}: {len(images)} images; the demo needs at least 16")
    out.mkdir(parents=True, exist_ok=True)
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:32].numpy()
    save_grid(images.images[pick], out / "training_faces.png", nrow=8, scale=2 if size <= 32 else 1)

    vae_cfg = cap_steps(demo_config(budget.vae, len(images), size, seed, source=source), steps)
    gan_cfg = cap_steps(gan_config(budget.gan, source, size, seed), steps) if gan else None
    gan_dir = None
    if gan_cfg is not None and budget.side_by_side:
        info(f"[2-3/{stages}] training a VAE and a GAN (DCGAN, fast preset) side by side for {minutes:.2g} min "
             f"on {len(images)} faces")
        vae_dir, gan_dir = train_side_by_side(vae_cfg, gan_cfg, out / "runs", data=images)
    else:
        info(f"[2/{stages}] training a VAE for {budget.vae:.2g} min on {len(images)} faces")
        vae_dir = train(vae_cfg, out / "runs", data=images)
        if gan_cfg is not None:
            info(f"[3/{stages}] training a GAN (DCGAN, fast preset) for {budget.gan:.2g} min")
            gan_dir = train(gan_cfg, out / "runs", data=images)

    info(f"[{stages - 1}/{stages}] sampling, reconstructing, interpolating")
    vae = load_model(vae_dir / FINAL)
    scale = 2 if size <= 32 else 1  # small faces: doubled pixels in the pictures
    save_grid(vae.sample(64, generator=torch.Generator().manual_seed(seed), prior="fitted"),
              out / "samples_fitted.png", nrow=8, scale=scale)
    save_grid(vae.sample(64, generator=torch.Generator().manual_seed(seed), prior="standard"),
              out / "samples.png", nrow=8, scale=scale)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed + 1)).numpy()
    idx, idx_more = order[:16], order[16:16 + FACES]
    real = to_tensor(images.images[idx])  # [16, C, H, W]
    recon = vae.reconstruct(real)  # [16, C, H, W]
    save_grid(torch.cat([real[:8], recon[:8], real[8:], recon[8:]]), out / "reconstructions.png", nrow=8,
              row_labels=["Real", "Guess", "Real", "Guess"], scale=scale)
    with torch.no_grad():
        z = vae.encode(real[:4]).float()  # [4, latent]
    walk = loop(vae, z, frames=92)  # A → B → C → D → A
    save_gif([make_grid(f[None], padding=0, scale=max(1, 128 // size)) for f in walk.frames],
             out / "interpolation.gif", fps=12)
    if gan_dir is not None:
        gan_model = load_model(gan_dir / FINAL)
        save_grid(gan_model.sample(64, generator=torch.Generator().manual_seed(seed)), out / "gan_samples.png", nrow=8,
                  scale=scale)

    info(f"[{stages}/{stages}] writing the reports")
    runs = [RunData.load(d) for d in (vae_dir, gan_dir) if d is not None]
    faces = torch.cat([real, to_tensor(images.images[np.sort(idx_more)])])  # [16 + ≤256, C, H, W]
    for r in runs:
        r.real_images = faces  # interpolation, blend, perturbation and latent statistics of the reports
        write_report(r.path, run=r)
    result = DemoResult(out=out, runs=runs, minutes=minutes, n=len(images), size=size, seed=seed, data=data,
                        seconds=time.time() - t0)
    page = write_demo_page(result)
    info(f"done in {time.time() - t0:.0f} s: open {page} in a browser")
    return page
