"""Sharpness: variance of the Laplacian (Pech-Pacheco et al. 2000), a blur detector.

Per image: grayscale (ITU-R 601 luma, 0–255 scale) → 3×3 Laplacian ``[[0,1,0],[1,−4,1],[0,1,0]]``
over the valid region → variance. The set's score is the mean over images. Blurry samples (a VAE's
typical failure) score well below real images of the same size; compare against the real score.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from animegen.metrics.common import MetricError

_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)[None, None]


def laplacian_var(grey: torch.Tensor) -> torch.Tensor:
    """Variance of the 3×3 Laplacian over the valid region of grey images ``[N, 1, H, W]`` → ``[N]``."""
    lap = F.conv2d(grey, _LAPLACE.to(grey.dtype))  # [N, 1, H-2, W-2]
    return lap.flatten(1).var(dim=1, unbiased=False)


def laplacian_variance(images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Per-image variance of the Laplacian ``[N]`` for uint8 ``[N, H, W, C]`` images."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        raise MetricError("sharpness: expected uint8 images [N, H, W, C]")
    out = []
    w = np.array([0.299, 0.587, 0.114]) if images.shape[3] == 3 else np.array([1.0])
    for i in range(0, len(images), batch_size):
        g = torch.from_numpy(images[i : i + batch_size].astype(np.float64) @ w)[:, None]  # [B, 1, H, W]
        out.append(laplacian_var(g).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def sharpness(images: np.ndarray) -> float:
    """Mean variance of the Laplacian over the set."""
    return float(laplacian_variance(images).mean())
