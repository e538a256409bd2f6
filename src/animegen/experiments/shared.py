"""What several experiments share: the seed-000 face models (AE z=256, VAE z=50), their data, the image probe
and cheap image features.

Run keys (``--run KEY=PATH`` replaces one): ``ae256-64``, ``vae50-64``, ``ae256-128``, ``vae50-128`` (``-32``
instead of ``-64`` at tiny budgets). The recipes are those of ``configs/{ae,vae}-faces{64,128}.toml`` with the
article's code sizes and no flips (a wink is on the image's right).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from animegen.experiments.core import Context
from animegen.metrics.sharpness import laplacian_var

FACES = 4000
"""Training faces by default: about the article's 4,000 heads (``synth:4000``)."""
HELD_OUT_SEED = 3
"""Measured synthetic faces come from ``synth:N:3``, a seed no training uses."""
TINY_SCALE = 0.05
"""Below this budget scale the models shrink (narrow widths, 32 px): a smoke test, not a measurement."""
CPU_MINUTES = {"ae": 3.0, "vae": 4.0}
"""Process-CPU minutes per training at budget scale 1 (64 px; 128 px runs get the same budget)."""
LATENT = {"ae": 256, "vae": 50}  # the article's code sizes


def tiny(ctx: Context) -> bool:
    return ctx.scale < TINY_SCALE


def model_size(ctx: Context, size: int) -> int:
    """The article's 128 px (or our 64 px) unless the budget is tiny: then half of 64 / 128 → 32 / 64."""
    return size // 2 if tiny(ctx) else size


def face_source(ctx: Context) -> str:
    return ctx.data or (f"synth:{max(64, int(FACES * ctx.scale))}" if tiny(ctx) else f"synth:{FACES}")


def held_out_source(ctx: Context, n: int) -> str:
    """Faces to measure: ``--data`` when it is not synthetic, else unseen synthetic faces (seed 3)."""
    if ctx.data and not ctx.data.startswith("synth:"):
        return ctx.data
    return f"synth:{n}:{HELD_OUT_SEED}"


def recipe(family: str, size: int, small: bool) -> list[str]:
    widths = "[8,16,16,32]" if small else "[32,64,128,256]"
    out = [f"data.size={size}", "data.hflip=false", "model.arch=conv", f"model.widths={widths}",
           f"model.latent_dim={LATENT[family]}", "model.lr=5e-4", f"train.batch_size={64 if size <= 64 else 32}",
           "train.ema_decay=0.0", "train.sample_every=1000", "train.checkpoint_every=100000",
           "train.eval_every=500", "train.log_every=50"]
    if family == "ae":
        return out + ["model.loss=mse"]
    return out + ["model.likelihood=gaussian", "model.obs_std=0.1", "model.beta=1.0", "model.kl_warmup_steps=500"]


def run_key(family: str, size: int) -> str:
    return f"{family}{LATENT[family]}-{size}"


@dataclass
class FaceModel:
    key: str
    run: Path
    model: torch.nn.Module
    size: int


def face_model(ctx: Context, family: str, size: int = 64) -> FaceModel:
    """Train (or reuse) and load the seed-000 ``family`` model at ``size`` px (tiny budgets: see model_size)."""
    from animegen.checkpoint import load_model
    from animegen.runs import preferred_checkpoint

    s = model_size(ctx, size)
    key = run_key(family, s)
    run = ctx.train(key, family, ctx.budget(CPU_MINUTES[family]), recipe(family, s, tiny(ctx)),
                    data=face_source(ctx))
    model = load_model(preferred_checkpoint(run)).eval()
    return FaceModel(key, Path(run), model, int(model.spec.size))


def steps_of(fm: FaceModel) -> int | None:
    """Training steps of a loaded face model (from its checkpoint header)."""
    header = getattr(fm.model, "checkpoint_header", None)
    return header.get("step") if isinstance(header, dict) else None


def probe_for(ctx: Context, size: int):
    """The attribute probe of the synthetic faces at ``size`` px (cached; a 1-epoch one at tiny budgets)."""
    from animegen.latent.probe import default_probe, label_columns, train_image_probe

    if tiny(ctx):
        from animegen.data.synthetic import render_faces

        images, labels = render_faces(256, size, 7, workers=1)
        probe, _ = train_image_probe(images, label_columns(labels), epochs=1, seed=7)
        return probe.eval()
    return default_probe(size=size).eval()


@torch.no_grad()
def features(images: Tensor, size: int = 32) -> Tensor:
    """Cheap image features ``[N, 3·size²]``: pixels at ``size`` px (area-averaged), in [-1, 1].

    A stand-in for Inception features on a CPU budget; distances are compared only between models measured
    the same way, as ratios to the real faces' own nearest-neighbour distance.
    """
    x = torch.nn.functional.adaptive_avg_pool2d(images.float(), size)  # [N, C, size, size]
    return x.flatten(1)


def sharpness(x: torch.Tensor) -> torch.Tensor:
    """Variance of the Laplacian of the grey image, per image ``[N]`` (higher = sharper)."""
    return laplacian_var(x.float().mean(1, keepdim=True))  # [N, 1, H, W] → [N]


def nn_distance(query: Tensor, ref: Tensor, exclude_self: bool = False) -> Tensor:
    """Euclidean distance of each query row ``[Q, F]`` to its nearest row of ``ref`` ``[R, F]`` → ``[Q]``."""
    d = torch.cdist(query.double(), ref.double())  # [Q, R]
    if exclude_self:
        d.fill_diagonal_(float("inf"))
    return d.min(1).values.float()


def pick(n: int, total: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).permutation(total)[: min(n, total)])
