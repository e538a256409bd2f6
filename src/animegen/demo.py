"""The demo pipeline behind ``animegen demo`` / ``make demo``: synthetic faces → VAE → grids → HTML page."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from animegen import runs
from animegen.config import DataConfig, RunConfig, TrainConfig, apply_overrides, model_config_class
from animegen.errors import AnimegenError
from animegen.imaging import make_grid, save_gif, save_grid, to_tensor
from animegen.progress import info

# the VAE the demo trains: the shared conv backbone, a Gaussian likelihood (seed 001's σ), short warm-up
DEMO_VAE = ["model.latent_dim=64", "model.obs_std=0.1", "model.kl_warmup_steps=300", "model.lr=1e-3"]


DEMO_SIZES = (32, 64, 128)
OUTPUTS = ("samples.png", "samples_fitted.png", "reconstructions.png", "interpolation.gif", "index.html")
"""The files the demo writes at the top of its folder (besides ``data/`` and ``runs/``)."""


def demo_config(minutes: float, n: int, size: int, seed: int) -> RunConfig:
    cfg = RunConfig(family="vae", name="vae-demo", model=model_config_class("vae")(),
                    data=DataConfig(source=f"synth:{n}:{seed}", size=size, channels=3, hflip=True, seed=seed),
                    train=TrainConfig(steps=1_000_000, max_minutes=minutes, batch_size=64, seed=seed, ema_decay=0.0,
                                      sample_every=200, checkpoint_every=500, eval_every=250, log_every=25))
    return apply_overrides(cfg, DEMO_VAE)


def _interpolation_frames(model, x: torch.Tensor, steps: int = 24) -> list[torch.Tensor]:
    """Encode a few real faces and walk the latent line between consecutive ones (each frame a row)."""
    with torch.no_grad():
        z = model.encode(x)  # [K, latent]
        frames = []
        for a, b in zip(range(len(z)), list(range(1, len(z))) + [0]):
            for t in torch.linspace(0, 1, steps)[:-1]:
                frames.append(model.decode(torch.lerp(z[a], z[b], t)[None]).clamp(-1, 1)[0])  # [C, H, W]
    return frames


def run_demo(out: str | Path, minutes: float = 4.0, n: int = 8000, size: int = 64, seed: int = 0) -> Path:
    """Run the demo into ``out`` and return the path of its ``index.html``."""
    from animegen.checkpoint import load_model
    from animegen.data.sources import open_source
    from animegen.data.synthetic import write_dataset
    from animegen.fsutil import check_output
    from animegen.report.html import Page
    from animegen.train.trainer import train

    out = check_output(out, (), kind="dir")
    if size not in DEMO_SIZES:
        raise AnimegenError(f"--size must be one of {', '.join(map(str, DEMO_SIZES))} (got {size})")
    if not (math.isfinite(minutes) and minutes > 0) or n < 2:
        raise AnimegenError(f"--minutes must be a positive number and --n at least 2 (got {minutes}, {n})")
    for name in OUTPUTS:  # before any work: never over a file we did not write
        check_output(out / name, (), kind="file")
    t0 = time.time()
    info(f"[1/4] rendering {n} synthetic faces at {size}px → {out / 'data'}")
    write_dataset(out / "data", n=n, size=size, seed=seed)
    cfg = demo_config(minutes, n, size, seed)
    info(f"[2/4] training a VAE for {minutes:g} min (bf16/channels-last where the CPU supports it)")
    run_dir = train(cfg, out / "runs")
    final = run_dir / runs.FINAL
    model = load_model(final)

    info("[3/4] sampling, reconstructing, interpolating")
    gen = torch.Generator().manual_seed(seed)
    save_grid(model.sample(64, generator=gen, prior="standard"), out / "samples.png", nrow=8)
    save_grid(model.sample(64, generator=torch.Generator().manual_seed(seed), prior="fitted"),
              out / "samples_fitted.png", nrow=8)
    data = open_source(cfg.data.source, size=size, channels=3)
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed + 1))[:16].numpy()
    real = to_tensor(data.images[idx])  # [16, C, H, W]
    recon = model.reconstruct(real)
    both = torch.cat([real[:8], recon[:8], real[8:], recon[8:]])
    save_grid(both, out / "reconstructions.png", nrow=8, row_labels=["Real", "Guess", "Real", "Guess"])
    frames = _interpolation_frames(model, real[:4])
    save_gif([make_grid(f[None], padding=0) for f in frames], out / "interpolation.gif", fps=12)

    info("[4/4] writing the report")
    records = [r for r in runs.read_metrics(run_dir) if "train/loss" in r]
    val = [r for r in runs.read_metrics(run_dir) if any(k.startswith("val/") for k in r)]
    header = model.checkpoint_header
    page = Page("animegen demo", f"VAE trained for {minutes:g} min on {n} procedural faces "
                                 f"({size}px, seed {seed}); step {header['step']}; total {time.time() - t0:.0f} s")
    page.heading("Samples from the prior").image(out / "samples.png", "64 faces decoded from z ~ N(0, I)")
    page.heading("Samples from the fitted prior").image(
        out / "samples_fitted.png", "the same seed decoded from the Gaussian fitted to the codes of the training "
        "faces (Ghosh et al. 2020; animegen sample --prior fitted)")
    page.heading("Reconstructions").image(out / "reconstructions.png", "held-in faces (Real) over the VAE's "
                                          "reconstruction (Guess)")
    page.heading("Latent interpolation").image(out / "interpolation.gif", "walking the straight line between the "
                                               "codes of four faces", width=4 * size)
    if records:
        pick = records[:: max(1, len(records) // 12)] + ([records[-1]] if records[-1] is not records[0] else [])
        keys = [k for k in ("train/loss", "train/recon_per_image", "train/kl_per_image") if k in records[-1]]
        page.heading("Training curve").table(["step"] + keys, [[r["step"]] + [r.get(k) for k in keys] for r in pick])
    if val:
        last = val[-1]
        page.heading("Validation").table(["metric", "value"], [[k, v] for k, v in last.items()
                                                              if k.startswith("val/")])
    page.heading("Reproduce").code(f"animegen demo --out {out} --minutes {minutes:g} --n {n} --size {size} "
                                   f"--seed {seed}\n# resolved config: {run_dir / runs.CONFIG}")
    page.heading("Config").code(json.dumps(header["model_config"], indent=2))
    return page.write(out / "index.html")
