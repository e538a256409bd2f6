"""Differentiable Augmentation for data-efficient GAN training (Zhao et al. 2020, "DiffAugment").

The same random, differentiable transforms are applied to real AND generated images before every
discriminator call (in both the D and the G update), so D cannot memorise the few thousand real
faces and G still receives gradients through the augmentation. A port of the authors' reference
``DiffAugment_pytorch.py`` (mit-han-lab/data-efficient-gans), policy ``"color,translation,cutout"``:

* ``color``: per-image brightness (+U[-0.5, 0.5]), saturation (×U[0, 2] around the grey value),
  contrast (×U[0.5, 1.5] around the image mean);
* ``translation``: shift by up to 1/8 of the side, zero padding;
* ``cutout``: zero one square of half the side at a random position.

Randomness comes from torch's global generator (seeded by the trainer), so runs are reproducible.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation"`` → ``("color", "translation")``; ``""``/``"none"`` → ``()``; ValueError if unknown."""
    if not policy or policy.strip().lower() in ("none", "off", "false"):
        return ()
    parts = tuple(p.strip() for p in policy.split(",") if p.strip())
    bad = [p for p in parts if p not in POLICIES]
    if bad:
        raise ValueError(
            f"unknown DiffAugment policy {bad[0]!r}; use a comma list of {', '.join(POLICIES)} (or '' for none)"
        )
    return parts


def _rand(b: int, x: Tensor) -> Tensor:
    return torch.rand(b, 1, 1, 1, device=x.device).to(x.dtype)  # [B, 1, 1, 1]


def rand_brightness(x: Tensor) -> Tensor:
    return x + (_rand(x.shape[0], x) - 0.5)


def rand_saturation(x: Tensor) -> Tensor:
    mean = x.mean(dim=1, keepdim=True)  # [B, 1, H, W]
    return (x - mean) * (_rand(x.shape[0], x) * 2.0) + mean


def rand_contrast(x: Tensor) -> Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # [B, 1, 1, 1]
    return (x - mean) * (_rand(x.shape[0], x) + 0.5) + mean


def rand_translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)  # [B, 1, 1]
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    gb, gy, gx = torch.meshgrid(
        torch.arange(b, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )  # [B, H, W] each
    gy = torch.clamp(gy + ty + 1, 0, h + 1)
    gx = torch.clamp(gx + tx + 1, 0, w + 1)
    x_pad = F.pad(x, [1, 1, 1, 1])  # [B, C, H+2, W+2], zero border
    return x_pad.permute(0, 2, 3, 1)[gb, gy, gx].permute(0, 3, 1, 2)  # [B, C, H, W]


def rand_cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)  # [B, 1, 1]
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    gb, gy, gx = torch.meshgrid(
        torch.arange(b, device=x.device),
        torch.arange(ch, device=x.device),
        torch.arange(cw, device=x.device),
        indexing="ij",
    )  # [B, ch, cw] each
    gy = torch.clamp(gy + oy - ch // 2, 0, h - 1)
    gx = torch.clamp(gx + ox - cw // 2, 0, w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gy, gx] = 0
    return x * mask.unsqueeze(1)  # [B, C, H, W]


FUNCTIONS = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}


def diff_augment(x: Tensor, policy: str | tuple[str, ...]) -> Tensor:
    """Apply the policy's transforms in order; the identity (same tensor) when the policy is empty."""
    parts = parse_policy(policy) if isinstance(policy, str) else tuple(policy)
    for p in parts:
        for fn in FUNCTIONS[p]:
            x = fn(x)
    return x
