"""Cheap training-health signals: sample diversity of a fixed-noise batch, and its collapse warning.

Diversity here is the mean pairwise distance between images after an area reduction to 16 × 16
pixels, as a per-pixel RMS difference (``||a − b||₂ / sqrt(D)``, pixels in [0, 1]). It costs
one generator pass and a ``cdist``; it is not a quality metric, but a generator that mode-collapses
(emits near-identical images for different latents) drops far below the value
of real data, which is computed once at the start of training.
"""
from __future__ import annotations

import torch
from torch import Tensor

COLLAPSE_RATIO = 0.5
"""Warn when generated diversity falls below this share of real-data diversity: between what healthy and
collapsed DCGAN runs on the 64 px anime faces read (BENCHMARKS.md, "Values behind defaults"); a collapsed
generator still varies its colour noise, so it does not fall to 0."""


@torch.no_grad()
def diversity(images: Tensor) -> float:
    """Mean pairwise RMS pixel distance of ``images`` ``[N, C, H, W]`` in [-1, 1] at 16 × 16 px (N ≥ 2).

    The value of :func:`animegen.metrics.diversity.diversity_score` in space ``"pixels"`` (what ``animegen
    evaluate`` reports), so training logs and evaluations compare directly.
    """
    if images.shape[0] < 2:
        return 0.0
    from animegen.imaging import to_uint8
    from animegen.metrics.diversity import diversity_score

    return float(diversity_score(to_uint8(images), space="pixels", max_n=len(images)))


def collapse_warning(step: int, value: float, real: float | None, ratio: float = COLLAPSE_RATIO) -> str | None:
    """The warning line when ``value`` is below ``ratio`` × ``real``, else None."""
    if real is None or real <= 0 or value >= ratio * real:
        return None
    return (f"warning: step {step}: sample diversity {value:.3f} is {100 * value / real:.0f}% of real data's "
            f"{real:.3f} — the generator may be mode-collapsing (near-identical samples). Look at the sample grid; "
            "lower the learning rates, try wgan-gp, or resume from an earlier checkpoint")
