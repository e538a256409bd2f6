"""Codes → images for the latent editing tools: batched, without gradients, in eval mode, clamped.

Usage::

    model = animegen.load("runs/vae-1/final.safetensors")
    images = decode_codes(model, torch.randn(10, model.latent_dim))   # [10, C, H, W] in [-1, 1]
    change = pixel_change(images[:-1], images[1:])                    # [9] mean |Δ| per pixel, 0..255 scale
"""
from __future__ import annotations

import torch
from torch import Tensor

DEFAULT_BATCH = 64


@torch.no_grad()
def decode_codes(model, z: Tensor, batch_size: int = DEFAULT_BATCH) -> Tensor:
    """Decode codes ``[K, D]`` in batches of ``batch_size`` → images ``[K, C, H, W]`` (float32, CPU, [-1, 1]).

    The model runs in eval mode (BatchNorm running statistics, no dropout) and is put back as it was.
    """
    if z.ndim != 2 or z.shape[1] != model.latent_dim:
        raise ValueError(f"decode_codes needs codes [K, {model.latent_dim}], got {list(z.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        parts = [model.decode(z[i : i + batch_size].to(device)).float().clamp(-1, 1).cpu()  # [b, C, H, W]
                 for i in range(0, z.shape[0], batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(parts)  # [K, C, H, W]


def pixel_change(a: Tensor, b: Tensor) -> Tensor:
    """Mean absolute difference per pixel between image batches ``[K, C, H, W]`` in [-1, 1], on the 0..255
    scale of the written files → ``[K]``."""
    return ((a.float() - b.float()).abs() * 127.5).flatten(1).mean(1)  # [K]
