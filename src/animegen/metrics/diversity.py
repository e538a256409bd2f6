"""Diversity of a batch of samples: mean pairwise distance in a feature space (a mode-collapse signal).

``mean_pairwise_distance(feats)`` = mean ‖fᵢ − fⱼ‖₂ over pairs i < j (at most ``max_n`` samples,
drawn with a fixed seed). Compare generated against real images in the same space: a ratio
``diversity(fake) / diversity(real)`` well below 1 means the model covers too little variety
(mode collapse); near 1 is healthy.

Spaces:

* Inception pool3 features (what ``animegen evaluate`` reports);
* ``"pixels"`` — images area-downsampled to 16×16 in [0, 1], distance divided by √dim (an RMS
  pixel difference): free, no network;
* ``"random-conv"`` — a fixed, seeded random conv net (3 stride-2 conv + ReLU layers, global
  average + max pooling, 256-d): cheap (~1 ms/image),
  more sensitive to structure than pixels. Its weights come from ``torch.Generator().manual_seed(0)``,
  so scores are comparable across runs and machines with the same torch version.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from animegen.metrics.common import MetricError, pairwise_distances

_RANDOM_NET: list[torch.Tensor] | None = None


def mean_pairwise_distance(feats: np.ndarray | torch.Tensor, max_n: int = 1000, seed: int = 0) -> float:
    """Mean Euclidean distance over all pairs i < j of (at most ``max_n``) rows."""
    f = torch.as_tensor(np.asarray(feats) if not isinstance(feats, torch.Tensor) else feats, dtype=torch.float64)
    if f.dim() != 2 or f.shape[0] < 2:
        raise MetricError(f"diversity needs at least 2 samples [N, D], got {tuple(f.shape)}")
    if not torch.isfinite(f).all():
        raise MetricError("diversity: features contain NaN/inf")
    if f.shape[0] > max_n:
        idx = np.random.default_rng(seed).choice(f.shape[0], max_n, replace=False)
        f = f[torch.as_tensor(np.sort(idx))]
    d = pairwise_distances(f, f)
    n = f.shape[0]
    return float(torch.triu(d, diagonal=1).sum() / (n * (n - 1) / 2))


def _images_unit(images: np.ndarray) -> torch.Tensor:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        raise MetricError("diversity: expected uint8 images [N, H, W, C]")
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0  # [N, C, H, W]


def pixel_features(images: np.ndarray, size: int = 16) -> torch.Tensor:
    """Area-downsampled pixels ``[N, C·size²]`` in [0, 1], scaled by 1/√dim."""
    x = F.adaptive_avg_pool2d(_images_unit(images), size)  # [N, C, size, size]
    v = x.flatten(1)
    return v / v.shape[1] ** 0.5


def _random_net() -> list[torch.Tensor]:
    global _RANDOM_NET
    if _RANDOM_NET is None:
        g = torch.Generator().manual_seed(0)
        shapes = [(32, 3, 3, 3), (64, 32, 3, 3), (128, 64, 3, 3)]
        # He-normal so activations keep their scale through the ReLUs
        _RANDOM_NET = [torch.randn(s, generator=g) * (2.0 / (s[1] * s[2] * s[3])) ** 0.5 for s in shapes]
    return _RANDOM_NET


@torch.no_grad()
def random_conv_features(images: np.ndarray, batch_size: int = 256) -> torch.Tensor:
    """Features ``[N, 256]`` of a fixed random conv net (input resized to 64 px, grayscale → RGB)."""
    out = []
    for i in range(0, len(images), batch_size):
        x = _images_unit(images[i : i + batch_size]) * 2 - 1  # [B, C, H, W] in [-1, 1]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != 64 or x.shape[-2] != 64:
            x = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
        for w in _random_net():
            x = F.relu(F.conv2d(x, w, stride=2, padding=1))  # [B, 32, 32, 32] … [B, 128, 8, 8]
        out.append(torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], 1))  # [B, 256]
    return torch.cat(out)


def diversity_score(images: np.ndarray, space: str = "pixels", max_n: int = 1000, seed: int = 0) -> float:
    """Mean pairwise distance of uint8 ``[N, H, W, C]`` images in a cheap space (``pixels`` or ``random-conv``).

    No Inception network needed: for periodic checks during training. Compare with the same score
    on real images (ratio ≪ 1: mode collapse).
    """
    if space == "pixels":
        feats = pixel_features(images)
    elif space == "random-conv":
        feats = random_conv_features(images)
    else:
        raise ValueError(f"unknown diversity space {space!r} (pixels or random-conv)")
    return mean_pairwise_distance(feats, max_n=max_n, seed=seed)
