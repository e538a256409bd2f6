"""Latent interpolation: a lerp or slerp path A → via… → B, decoded into frames, with numbers about its smoothness.

Usage::

    model = animegen.load("runs/vae-1/final.safetensors")
    codes = resolve_codes(model, ["a.png", "seed:3", "b.png"])          # A, a via point, B
    path = interpolate(model, codes.z, steps=64, slerp=True)             # path.frames [64, C, H, W]; path.numbers()

The path starts exactly at A's code and ends exactly at B's (frame 0 is A's reconstruction, the last frame
B's); every via point is a frame too. Frames are spread over the segments in proportion to each segment's
length in latent space, evenly within a segment, so consecutive frames are about the same code distance apart
across the whole path. ``slerp`` follows the great circle between the code *directions* (Shoemake 1985; for
generative-model latents White 2016, "Sampling Generative Networks") while the code norm moves linearly from
|A| to |B|: a Gaussian prior puts almost all its mass near a shell, and the straight line between two codes cuts
inside it (its norm dips mid-way), the slerp path never does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from animegen.latent.decoding import DEFAULT_BATCH, decode_codes, pixel_change

_LENGTH_SAMPLES = 256  # chords per segment when measuring a slerp segment's length
_EPS = 1e-12


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Straight line: codes ``[D]``, positions ``t [T]`` in [0, 1] → ``[T, D]``."""
    return a[None] + t[:, None] * (b - a)[None]  # [T, D]


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Great-circle interpolation of the direction with a linearly interpolated norm: ``[D]``, ``t [T]`` → ``[T, D]``.

    Falls back to :func:`lerp` where the direction is undefined: a zero code, or (anti)parallel codes.
    """
    na, nb = a.norm(), b.norm()
    if na < _EPS or nb < _EPS:
        return lerp(a, b, t)
    ua, ub = a / na, b / nb
    omega = torch.arccos((ua @ ub).clamp(-1.0, 1.0))
    if omega < 1e-6 or math.pi - float(omega) < 1e-6:
        return lerp(a, b, t)
    s = torch.sin(omega)
    wa, wb = torch.sin((1 - t) * omega) / s, torch.sin(t * omega) / s  # [T] each
    dirs = wa[:, None] * ua[None] + wb[:, None] * ub[None]  # [T, D] unit directions
    norms = (1 - t) * na + t * nb  # [T]
    return dirs * norms[:, None]  # [T, D]


def segment_length(a: Tensor, b: Tensor, use_slerp: bool = False) -> float:
    """Length of one segment's path in latent space (exact for lerp, a fine polyline for slerp)."""
    if not use_slerp:
        return float((b - a).norm())
    pts = slerp(a.double(), b.double(), torch.linspace(0, 1, _LENGTH_SAMPLES + 1, dtype=torch.float64))  # [S+1, D]
    return float((pts[1:] - pts[:-1]).norm(dim=1).sum())


def allocate_steps(lengths: list[float], total: int) -> list[int]:
    """Split ``total`` frame-to-frame steps over segments in proportion to their lengths, at least one each
    (largest-remainder rounding; equal split when every segment has length 0)."""
    m = len(lengths)
    if total < m:
        raise ValueError(f"{total} steps cannot cover {m} segments")
    length = sum(lengths)
    ideal = [total * x / length for x in lengths] if length > _EPS else [total / m] * m
    steps = [max(1, int(math.floor(v))) for v in ideal]
    while sum(steps) < total:
        i = max(range(m), key=lambda j: ideal[j] - steps[j])
        steps[i] += 1
    while sum(steps) > total:
        i = min((j for j in range(m) if steps[j] > 1), key=lambda j: ideal[j] - steps[j])
        steps[i] -= 1
    return steps


def path_codes(anchors: Tensor, steps: int, use_slerp: bool = False) -> tuple[Tensor, list[int]]:
    """Codes ``[steps, D]`` along anchors ``[M, D]`` (A, via…, B) and the frame index of each anchor.

    Anchor rows are copied exactly (no rounding drift at the ends or at via points).
    """
    if anchors.ndim != 2 or anchors.shape[0] < 2:
        raise ValueError(f"need at least two anchor codes [M, D], got {list(anchors.shape)}")
    m = anchors.shape[0]
    if steps < m:
        raise ValueError(f"{steps} frames cannot show {m} anchor codes; use at least {m}")
    a = anchors.detach().float().cpu()
    lengths = [segment_length(a[i], a[i + 1], use_slerp) for i in range(m - 1)]
    per_segment = allocate_steps(lengths, steps - 1)
    rows, anchor_idx = [], [0]
    for i, n in enumerate(per_segment):
        t = torch.linspace(0, 1, n + 1)[:-1]  # [n] positions, the segment's end is the next segment's start
        rows.append((slerp if use_slerp else lerp)(a[i], a[i + 1], t))
        anchor_idx.append(anchor_idx[-1] + n)
    rows.append(a[-1:])
    z = torch.cat(rows)  # [steps, D]
    for i, k in enumerate(anchor_idx):
        z[k] = a[i]
    return z, anchor_idx


@dataclass
class Interpolation:
    """A decoded latent path and what it measured."""

    z: Tensor  # [K, D] codes of the frames
    frames: Tensor  # [K, C, H, W] decoded frames in [-1, 1]
    anchor_frames: list[int]  # frame index of A, each via point and B
    step_distance: Tensor  # [K-1] code distance between consecutive frames
    frame_change: Tensor  # [K-1] mean |Δ| per pixel between consecutive frames, 0..255 scale
    method: str  # "lerp" or "slerp"

    def numbers(self) -> dict:
        """The path's measured numbers as plain JSON values."""
        d, c, norms = self.step_distance, self.frame_change, self.z.norm(dim=1)
        mean_change = float(c.mean()) if len(c) else 0.0
        return {
            "method": self.method,
            "frames": int(self.z.shape[0]),
            "anchor_frames": self.anchor_frames,
            "path_length": round(float(d.sum()), 5),
            "step_distance_min": round(float(d.min()), 5),
            "step_distance_max": round(float(d.max()), 5),
            "code_norm_min": round(float(norms.min()), 5),
            "code_norm_max": round(float(norms.max()), 5),
            "mean_frame_change": round(mean_change, 4),
            "max_frame_change": round(float(c.max()), 4),
            "max_frame_change_at": int(c.argmax()),  # between frames i and i+1
            "jump_ratio": round(float(c.max()) / mean_change, 4) if mean_change > 0 else None,
            "step_distance": [round(float(x), 5) for x in d],
            "frame_change": [round(float(x), 4) for x in c],
        }


def interpolate(model, anchors: Tensor, steps: int, use_slerp: bool = False,
                batch_size: int = DEFAULT_BATCH) -> Interpolation:
    """Decode ``steps`` frames along anchors ``[M, D]`` (A, via…, B; see the module doc).

    ``jump_ratio`` in :meth:`Interpolation.numbers` is the largest frame-to-frame pixel change over the mean
    one: near 1 for a smooth morph, large where the path crosses a hole of the latent space (seed 000's
    "broken faces" of the plain AE).
    """
    z, anchor_idx = path_codes(anchors, steps, use_slerp)
    frames = decode_codes(model, z, batch_size)  # [K, C, H, W]
    return Interpolation(z=z, frames=frames, anchor_frames=anchor_idx,
                         step_distance=(z[1:] - z[:-1]).norm(dim=1),  # [K-1]
                         frame_change=pixel_change(frames[:-1], frames[1:]),  # [K-1]
                         method="slerp" if use_slerp else "lerp")
