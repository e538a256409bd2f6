"""Cheap training-health signals: sample diversity of a fixed-noise batch, and its collapse warning.

Diversity here is the mean pairwise distance between images after an antialiased reduction to
16 × 16 pixels, as a per-pixel RMS difference (``||a − b||₂ / sqrt(D)``, images in [−1, 1]). It costs
one generator pass and a ``cdist``; it is not a quality metric, but a generator that mode-collapses
(emits near-identical images for different latents, as seed 002 observed) drops far below the value
of real data, which is computed once at the start of training.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

COLLAPSE_RATIO = 0.25
"""Warn when generated diversity falls below this share of real-data diversity."""
FEATURE_SIZE = 16


@torch.no_grad()
def diversity(images: Tensor, size: int = FEATURE_SIZE) -> float:
    """Mean pairwise RMS pixel distance of ``images`` ``[N, C, H, W]`` in [-1, 1] at ``size`` px (N ≥ 2)."""
    x = images.detach().float()
    if x.shape[0] < 2:
        return 0.0
    if x.shape[-1] > size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    feats = x.reshape(x.shape[0], -1)  # [N, C*size*size]
    d = torch.cdist(feats, feats, compute_mode="donot_use_mm_for_euclid_dist") / feats.shape[1] ** 0.5  # [N, N]
    n = feats.shape[0]
    return float(d.sum() / (n * (n - 1)))


def collapse_warning(step: int, value: float, real: float | None, ratio: float = COLLAPSE_RATIO) -> str | None:
    """The warning line when ``value`` is below ``ratio`` × ``real``, else None."""
    if real is None or real <= 0 or value >= ratio * real:
        return None
    return (f"warning: step {step}: sample diversity {value:.3f} is {100 * value / real:.0f}% of real data's "
            f"{real:.3f} — the generator may be mode-collapsing (near-identical samples). Look at the sample grid; "
            "lower the learning rates, try wgan-gp, or resume from an earlier checkpoint")
