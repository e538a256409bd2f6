"""Model operations behind the studio's tabs, as plain functions of codes and uint8 images (no gradio here).

    eng = Engine.load(path, "bundled")
    z = eng.sample_codes(seed=3, count=8)                 # [8, D]
    faces = eng.decode(z)                                 # uint8 [8, H, W, C]
    grid, codes = eng.variations(z[0])                    # coarse → fine rows around one face
    frames = eng.morph(z[0], z[1], frames=16)             # Interpolation (animegen.latent.interpolate)
    face = eng.edit(z[0], {"mouth=smile": 1.5})           # uint8 [1, H, W, C]
    report = eng.inspect(upload_uint8)                    # reconstruction, code statistics, nearest faces

Everything is built on :mod:`animegen.latent` (resolve codes, interpolate, blend, perturb, directions, stats,
invert, neighbors) and :func:`animegen.checkpoint.load_model`.
"""
from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from animegen.errors import AnimegenError
from animegen.studio.reference import REFERENCE_SIZE, Reference, build_reference

MAX_COUNT = 16
"""Faces per Generate click."""
MAX_FRAMES = 48
LEVELS = (1.0, 0.5, 0.25)
"""Variation rows, coarse to fine: noise of this many reference standard deviations per dimension."""
PER_LEVEL = 6
SLIDER_RANGE = 3.0
"""Edit sliders run from −3 to +3 standard deviations of the codes along their axis."""
INVERT_STEPS = 100
"""GAN inversion budget in Inspect (steps × 2 restarts; :mod:`animegen.latent.invert`)."""


class StudioInputError(AnimegenError):
    """A studio request with values outside what the controls allow."""


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise StudioInputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v != int(v) or not lo <= v <= hi:
        raise StudioInputError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    return int(v)


def _float(value: Any, name: str, lo: float, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise StudioInputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise StudioInputError(f"{name} must be between {lo:g} and {hi:g}, got {value!r}")
    return v


@dataclass
class Inspection:
    """What Inspect shows about one uploaded face."""

    input: np.ndarray  # uint8 [1, S, S, C] at the model's size
    reconstruction: np.ndarray  # uint8 [1, S, S, C]
    z: Tensor  # [D]
    neighbors: np.ndarray  # uint8 [k, S, S, C] nearest reference faces, nearest first
    neighbor_distances: list[float]
    stats: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Engine:
    """One loaded model plus its reference set (built on first use, once, thread-safe)."""

    def __init__(self, model, label: str, checkpoint: str | os.PathLike | None = None,
                 reference_size: int = REFERENCE_SIZE):
        self.model = model.eval()
        self.reference_size = int(reference_size)
        self.label = label
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self._ref: Reference | None = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | os.PathLike, label: str, reference_size: int = REFERENCE_SIZE) -> Engine:
        from animegen.checkpoint import load_model

        return cls(load_model(path), label, path, reference_size)

    # ---- facts -----------------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return int(self.model.latent_dim)

    @property
    def can_encode(self) -> bool:
        return bool(getattr(self.model, "has_encoder", False))

    def describe(self) -> str:
        m = self.model
        params = sum(p.numel() for p in m.parameters())
        return (f"{self.label}: {m.family}, {m.spec.size} px, {m.spec.channels} channel(s), "
                f"latent {self.latent_dim}, {params / 1e6:.2f} M parameters")

    def default_prior(self) -> str:
        """The prior whose samples look most like the training faces: the fitted mixture, else the fitted
        Gaussian (VAEs trained with a small σ keep codes wider than N(0, I)), else the model's own."""
        if self.model.mixture_prior() is not None:
            return "gmm"
        if self.model.fitted_prior() is not None:
            return "fitted"
        return "auto"

    def reference(self) -> Reference:
        with self._lock:
            if self._ref is None:
                self._ref = build_reference(self.model, self.checkpoint, self.reference_size)
            return self._ref

    # ---- codes ↔ images ------------------------------------------------------------------------
    def check_code(self, z: Any) -> Tensor:
        """A code ``[D]`` for this model (from session state), or StudioInputError."""
        if not isinstance(z, Tensor) or z.ndim != 1 or z.shape[0] != self.latent_dim or not torch.isfinite(z).all():
            raise StudioInputError("that face belongs to another model; pick or generate one with this checkpoint")
        return z.float()

    def decode(self, z: Tensor) -> np.ndarray:
        """Codes ``[K, D]`` → uint8 ``[K, H, W, C]``."""
        from animegen.imaging import to_uint8
        from animegen.latent.decoding import decode_codes

        return to_uint8(decode_codes(self.model, z.float()))

    def sample_codes(self, seed: Any, count: Any = 1, truncation: Any = 0.0, prior: str = "best") -> Tensor:
        """``count`` codes ``[count, D]`` of a prior (same seed, same codes); truncation 0 = off; ``prior="best"``:
        :meth:`default_prior`."""
        from animegen.models.base import PRIORS

        if prior == "best":
            prior = self.default_prior()
        seed_i = _int(seed, "seed", 0, 2**31 - 1)
        n = _int(count, "count", 1, MAX_COUNT)
        t = _float(truncation, "truncation", 0.0, 10.0)
        if prior not in PRIORS:
            raise StudioInputError(f"prior must be one of {', '.join(PRIORS)}, got {prior!r}")
        gen = torch.Generator().manual_seed(seed_i)
        try:
            z = self.model.sample_latent(n, generator=gen, truncation=t or None, prior=prior)
        except AnimegenError as exc:  # e.g. gmm on a model without a fitted mixture
            raise StudioInputError(str(exc)) from None
        return z.float().cpu()  # [n, D]

    def seed_code(self, seed: Any) -> Tensor:
        """The face of seed N: the first face Generate shows for that seed with the default prior."""
        return self.sample_codes(seed, 1)[0]

    def encode_image(self, image: np.ndarray) -> tuple[Tensor, np.ndarray, list[str]]:
        """uint8 ``[1, S, S, C]`` of any size → ``(code [D], the model's input as uint8, notes)``; GANs invert it."""
        from animegen.imaging import to_uint8
        from animegen.latent.codes import model_input

        x, notes = model_input(image, self.model)  # [1, C, H, W]
        if self.can_encode:
            with torch.no_grad():
                z = self.model.encode(x).float()[0]
        else:
            from animegen.latent.invert import invert

            z = invert(self.model, x, steps=INVERT_STEPS, restarts=2).z.float()[0]
            notes.append(f"inverted into the {self.model.family} generator ({INVERT_STEPS} steps × 2 restarts)")
        return z.cpu(), to_uint8(x), notes

    # ---- tabs ------------------------------------------------------------------------------------
    def variations(self, z: Tensor, per_level: Any = PER_LEVEL, seed: Any = 0,
                   levels: Sequence[float] = LEVELS) -> tuple[np.ndarray, Tensor]:
        """Rows of variations around ``z [D]``, coarse to fine: row r is z + levels[r]·s·ε (s: the reference codes'
        mean std; :func:`animegen.latent.perturb.random_codes`). Returns uint8 ``[R·n, H, W, C]`` and codes."""
        from animegen.latent.perturb import random_codes

        z = self.check_code(z)
        n = _int(per_level, "variations per row", 1, MAX_COUNT)
        s = _int(seed, "seed", 0, 2**31 - 1)
        scale = self.reference().code_scale
        codes = torch.cat([random_codes(z, lv * scale, n, seed=s + i) for i, lv in enumerate(levels)])  # [R·n, D]
        return self.decode(codes), codes

    def morph(self, za: Tensor, zb: Tensor, frames: Any = 16, use_slerp: bool = True):
        """Frames from A to B (:func:`animegen.latent.interpolate.interpolate`)."""
        from animegen.latent.interpolate import interpolate

        k = _int(frames, "frames", 2, MAX_FRAMES)
        return interpolate(self.model, torch.stack([self.check_code(za), self.check_code(zb)]), k, use_slerp)

    def blend(self, codes: Sequence[Tensor], weights: Sequence[Any]):
        """Weighted mix of 2–4 codes (:func:`animegen.latent.blend.blend`)."""
        from animegen.latent.blend import blend

        if not 2 <= len(codes) <= 4:
            raise StudioInputError(f"a blend takes two to four faces, got {len(codes)}")
        w = [_float(x, "weight", 0.0, 1.0) for x in weights]
        return blend(self.model, torch.stack([self.check_code(z) for z in codes]), w)

    def axes(self):
        return self.reference().axes

    def edit_code(self, z: Tensor, values: Mapping[str, Any] | Sequence[Any]) -> Tensor:
        """``z + Σ vᵢ·scaleᵢ·axisᵢ`` over the reference axes; values by axis name or in axis order."""
        z = self.check_code(z)
        axes = self.axes()
        if isinstance(values, Mapping):
            unknown = sorted(set(values) - {a.name for a in axes})
            if unknown:
                raise StudioInputError(f"unknown slider {unknown[0]!r}")
            vals = [values.get(a.name, 0.0) for a in axes]
        else:
            vals = list(values)[: len(axes)]
        out = z.clone()
        for a, v in zip(axes, vals, strict=False):
            out += _float(v, a.name, -SLIDER_RANGE, SLIDER_RANGE) * a.scale * a.vector
        return out

    def edit(self, z: Tensor, values: Mapping[str, Any] | Sequence[Any]) -> np.ndarray:
        """One decoded edit → uint8 ``[1, H, W, C]``."""
        return self.decode(self.edit_code(z, values)[None])

    def inspect(self, image: np.ndarray, k: int = 6) -> Inspection:
        """Reconstruction (or inversion), code statistics against the reference codes, nearest reference faces."""
        from animegen.latent.neighbors import nearest

        z, x, notes = self.encode_image(image)
        recon = self.decode(z[None])
        ref = self.reference()
        ref_codes = ref.codes
        if ref_codes is not None:  # nearest in code space
            d, idx = nearest(z[None].numpy(), ref_codes.numpy(), k)
            space = "code"
        else:  # a GAN: nearest in pixel space to the input
            d, idx = nearest(x.reshape(1, -1) / 255.0, ref.images.reshape(len(ref.images), -1), k, ref_scale=1 / 255)
            space = "pixel"
        stats = self._code_stats(z, x, recon, ref_codes)
        stats["nearest_space"] = space
        stats["reference"] = ref.source
        return Inspection(x, recon, z, ref.images[idx[0]], [round(float(v), 4) for v in d[0]], stats, notes)

    def _code_stats(self, z: Tensor, x: np.ndarray, recon: np.ndarray, ref_codes: Tensor | None) -> dict[str, Any]:
        err = (x.astype(np.float64) - recon.astype(np.float64)) / 255.0
        mse = float((err**2).mean())
        out: dict[str, Any] = {"latent_dim": self.latent_dim, "code_norm": round(float(z.norm()), 4),
                               "code_mean": round(float(z.mean()), 4), "code_std": round(float(z.std()), 4),
                               "reconstruction_mse": round(mse, 6),
                               "reconstruction_psnr_db": round(10 * math.log10(1 / mse), 2) if mse > 0 else None}
        if ref_codes is not None and len(ref_codes) > 1:
            norms = ref_codes.norm(dim=1)
            mu, sd = ref_codes.mean(0), ref_codes.std(0).clamp_min(1e-6)
            zs = (z - mu) / sd  # [D] per-dimension z-score against the reference codes
            out["norm_percentile"] = round(100.0 * float((norms < z.norm()).float().mean()), 1)
            out["max_abs_z_score"] = round(float(zs.abs().max()), 3)
            out["dims_beyond_3sd"] = int((zs.abs() > 3).sum())
        if hasattr(self.model, "posterior"):
            from animegen.imaging import to_tensor

            with torch.no_grad():
                _, logvar = self.model.posterior(to_tensor(x))
            out["posterior_mean_std"] = round(float(logvar.mul(0.5).exp().mean()), 4)
        return out
