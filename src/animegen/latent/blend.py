"""Blending characters: a weighted mix of K codes, decoded (seed 000's "mix two characters").

Usage::

    model = animegen.load("runs/vae-1/final.safetensors")
    codes = resolve_codes(model, ["a.png", "b.png"])
    result = blend(model, codes.z, [0.3, 0.7])        # result.image [1, C, H, W], result.inputs, result.notes

Weights must be finite and non-negative, one per code; weights that do not sum to 1 are divided by their sum
(with a note), so the mix is always a convex combination: z = Σ wᵢ zᵢ. :func:`blend_row` decodes the mix of two
codes over weights 0..1 (the ``--grid`` row).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from animegen.errors import AnimegenError
from animegen.latent.decoding import decode_codes, pixel_change

SUM_TOLERANCE = 1e-6


class WeightError(AnimegenError):
    """Blend weights that cannot be used (negative, wrong count, all zero, not numbers)."""


def parse_weights(text: str) -> list[float]:
    """``"0.3,0.7"`` → ``[0.3, 0.7]``; WeightError for anything else."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise WeightError(f"--weights {text!r}: expected comma-separated numbers, e.g. 0.3,0.7") from None
    return values


def normalise_weights(weights: Sequence[float], count: int) -> tuple[Tensor, list[str]]:
    """Validate ``weights`` for ``count`` codes → ``(weights [count] summing to 1, notes)``."""
    w = [float(x) for x in weights]
    if len(w) != count:
        raise WeightError(f"{len(w)} weight(s) for {count} input(s); give one weight per input")
    if any(not math.isfinite(x) for x in w):
        raise WeightError(f"weights must be finite numbers, got {w}")
    if any(x < 0 for x in w):
        raise WeightError(f"weights must not be negative, got {w} (a blend is a weighted mix of the inputs)")
    total = sum(w)
    if total <= 0:
        raise WeightError("weights sum to 0; give at least one positive weight")
    notes = []
    if abs(total - 1.0) > SUM_TOLERANCE:
        norm = [x / total for x in w]
        notes.append(f"weights {','.join(f'{x:g}' for x in w)} sum to {total:g}; normalised to "
                     f"{','.join(f'{x:.4g}' for x in norm)}")
        w = norm
    return torch.tensor(w, dtype=torch.float32), notes


def blend_codes(z: Tensor, weights: Tensor) -> Tensor:
    """Codes ``[K, D]`` and weights ``[K]`` → the mix ``[D]``."""
    return (weights.float()[:, None] * z.float()).sum(0)  # [D]


@dataclass
class Blend:
    """A decoded blend, the inputs' own decodings and the numbers measured."""

    z: Tensor  # [D] the mixed code
    image: Tensor  # [1, C, H, W] the blend, in [-1, 1]
    inputs: Tensor  # [K, C, H, W] each input decoded from its own code (reconstructions)
    weights: Tensor  # [K] normalised
    notes: list[str] = field(default_factory=list)
    row: Tensor | None = None  # [N, C, H, W] the --grid row, when asked for
    row_weights: list[float] | None = None  # weight of the second input per row image

    def numbers(self, codes: Tensor) -> dict:
        dist = (codes.float() - self.z[None]).norm(dim=1)  # [K]
        change = pixel_change(self.inputs, self.image.expand_as(self.inputs))  # [K]
        out = {
            "weights": [round(float(x), 6) for x in self.weights],
            "code_norm": round(float(self.z.norm()), 5),
            "input_code_norms": [round(float(x), 5) for x in codes.float().norm(dim=1)],
            "code_distance_to_inputs": [round(float(x), 5) for x in dist],
            "pixel_change_from_inputs": [round(float(x), 4) for x in change],
        }
        if self.row_weights is not None and self.row is not None:
            out["grid_weights"] = [round(x, 6) for x in self.row_weights]
            out["grid_frame_change"] = [round(float(x), 4) for x in pixel_change(self.row[:-1], self.row[1:])]
        return out


def blend_row(model, z: Tensor, n: int) -> tuple[Tensor, list[float]]:
    """Two codes ``[2, D]`` → ``n`` images mixing them with the second one's weight 0, 1/(n-1), …, 1."""
    if z.shape[0] != 2:
        raise WeightError(f"a blend row mixes exactly two inputs, got {z.shape[0]}")
    if n < 2:
        raise WeightError(f"--grid needs at least 2 images, got {n}")
    t = torch.linspace(0, 1, n)  # [n]
    codes = (1 - t)[:, None] * z[0][None] + t[:, None] * z[1][None]  # [n, D]
    codes[0], codes[-1] = z[0], z[1]
    return decode_codes(model, codes), [float(x) for x in t]


def blend(model, z: Tensor, weights: Sequence[float], grid: int = 0) -> Blend:
    """Mix codes ``[K, D]`` with ``weights`` (module doc) and decode; ``grid`` ≥ 2 adds a row over weights 0..1
    (two inputs only)."""
    if z.ndim != 2 or z.shape[0] < 1:
        raise ValueError(f"blend needs codes [K, D], got {list(z.shape)}")
    w, notes = normalise_weights(weights, z.shape[0])
    mixed = blend_codes(z, w)  # [D]
    images = decode_codes(model, torch.cat([mixed[None], z.float()]))  # [1 + K, C, H, W]
    out = Blend(z=mixed, image=images[:1], inputs=images[1:], weights=w, notes=notes)
    if grid:
        out.row, out.row_weights = blend_row(model, z.float(), grid)
    return out
