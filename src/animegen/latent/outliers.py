"""Outliers of a dataset by reconstruction error (seed 003's anomaly detection), and a keep-list for prepare.

An autoencoder trained on faces reconstructs faces well and anything else (bad crops, text, noise, flat
fills) badly, so the per-image reconstruction error ranks a crawled set from most to least face-like
(Sakurada & Yairi 2014, "Anomaly Detection Using Autoencoders with Nonlinear Dimensionality Reduction").

    model = animegen.load("runs/ae-1/final.safetensors")
    rep = rank_outliers(model, open_source("crawl/"), top=32)
    rep.order[:32]          # worst first; rep.scores [N] per-image MSE on the [0, 1] scale
    rep.keep_names(threshold=95)   # names under the 95th error percentile, for `prepare --keep-list`

Names are the ones ``animegen prepare`` records for each kept image (``manifest.json`` ``files[i].source``:
the path inside the source folder or archive), so ``prepare SRC --keep-list keep.txt`` on the same
source keeps exactly the listed images. Sources without file names (``synth:``, ``mnist:``) get row
numbers, which ``prepare`` cannot match.

GANs have no encoder: :func:`rank_outliers` raises unless ``invert=True``, which scores each image by
how closely :func:`animegen.latent.invert.invert` can reproduce it (slow: an optimisation per batch).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from animegen.errors import AnimegenError


class NeedsEncoder(AnimegenError):
    """Reconstruction error needs a model that can encode (AE/VAE)."""


@dataclass
class OutlierReport:
    scores: np.ndarray  # [N] reconstruction MSE on the [0, 1] scale
    names: list[str]  # [N] source names (see module doc)
    named_by_rows: bool = False  # True when the source had no file names
    method: str = "reconstruction"
    notes: list[str] = field(default_factory=list)

    @property
    def order(self) -> np.ndarray:
        """Indices from the highest error to the lowest (ties: lower index first)."""
        return np.lexsort((np.arange(len(self.scores)), -self.scores))

    def ranks(self) -> np.ndarray:
        """1-based rank of each image (1 = the worst)."""
        r = np.empty(len(self.scores), dtype=np.int64)
        r[self.order] = np.arange(1, len(self.scores) + 1)
        return r

    def keep_mask(self, threshold: float | None = None, drop_top: int = 0) -> np.ndarray:
        """bool ``[N]``: images under the ``threshold`` error percentile (0-100), minus the ``drop_top`` worst."""
        keep = np.ones(len(self.scores), dtype=bool)
        if threshold is not None:
            if not 0 < threshold <= 100:
                raise AnimegenError(f"--threshold is a percentile in (0, 100], got {threshold}")
            keep &= self.scores <= np.percentile(self.scores, threshold)
        if drop_top > 0:
            keep[self.order[:drop_top]] = False
        return keep

    def keep_names(self, threshold: float | None = None, drop_top: int = 0) -> list[str]:
        mask = self.keep_mask(threshold, drop_top)
        return [n for n, k in zip(self.names, mask, strict=True) if k]

    def to_json(self, top: int, threshold: float | None, drop_top: int) -> dict[str, Any]:
        ranks = self.ranks()
        mask = self.keep_mask(threshold, drop_top)
        return {
            "method": self.method, "score": "per-image MSE on the [0, 1] scale", "n": int(len(self.scores)),
            "named_by_rows": self.named_by_rows, "notes": self.notes,
            "threshold_percentile": threshold, "dropped_worst": drop_top, "kept": int(mask.sum()),
            "threshold_value": float(np.percentile(self.scores, threshold)) if threshold is not None else None,
            "summary": {"mean": float(self.scores.mean()), "median": float(np.median(self.scores)),
                        "p95": float(np.percentile(self.scores, 95)), "max": float(self.scores.max())},
            "worst": [{"rank": int(ranks[i]), "index": int(i), "name": self.names[i], "score": float(self.scores[i])}
                      for i in self.order[:top]],
            "images": [{"index": i, "name": n, "score": float(s), "rank": int(r), "kept": bool(k)}
                       for i, (n, s, r, k) in enumerate(zip(self.names, self.scores, ranks, mask, strict=True))],
        }


def source_names(ds) -> tuple[list[str], bool]:
    """The name ``prepare`` recorded for each image of an ImageSet, or row numbers (``named_by_rows=True``)."""
    folder = (ds.meta or {}).get("path")
    if folder:
        from animegen.data.prepared import read_manifest

        files = read_manifest(folder).get("files") or []
        if len(files) == len(ds) and all(isinstance(f, dict) and "source" in f for f in files):
            return [str(f["source"]) for f in files], False
    return [str(i) for i in range(len(ds))], True


@torch.no_grad()
def reconstruction_errors(model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Per-image MSE ``[N]`` (on [0, 1]) between uint8 ``[N, H, W, C]`` images and their reconstructions."""
    from animegen.imaging import to_tensor
    from animegen.metrics.recon import mse
    from animegen.progress import progress

    if not getattr(model, "has_encoder", False):
        raise NeedsEncoder(f"this {model.family} model has no encoder, so it cannot rank images by reconstruction "
                           "error: use an AE/VAE checkpoint, or add --invert (slow: optimises a code per image)")
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in progress(range(0, len(images), batch_size), desc="reconstruction errors", unit="batch"):
            x = to_tensor(np.asarray(images[i : i + batch_size])).to(dev)  # [B, C, H, W]
            out.append(mse(x.cpu(), model.reconstruct(x).float().cpu()))
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0)


def inversion_errors(model, images: np.ndarray, batch_size: int = 64, **invert_options: Any) -> np.ndarray:
    """Per-image pixel MSE ``[N]`` of GAN inversions (:func:`animegen.latent.invert.invert`)."""
    from animegen.imaging import to_tensor
    from animegen.latent.invert import invert

    out = [invert(model, to_tensor(np.asarray(images[i : i + batch_size])), **invert_options).pixel_mse
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros(0)


def rank_outliers(model, ds, invert: bool = False, batch_size: int = 64, **invert_options: Any) -> OutlierReport:
    """Score every image of the ImageSet ``ds`` (converted to the model's size/channels, with a note)."""
    from animegen.data.imageset import convert

    if len(ds) < 1:
        raise AnimegenError(f"{ds.name}: no images to rank")
    notes = []
    c, s = model.spec.channels, model.spec.size
    if (ds.size, ds.channels) != (s, c):
        notes.append(f"converted {ds.size}px {ds.channels}-channel images to the model's {s}px {c}-channel input")
        ds = convert(ds, s, c)
    names, by_rows = source_names(ds)
    if by_rows:
        notes.append(f"{ds.name} has no file names: keep.txt lists row numbers, "
                     "which `prepare --keep-list` cannot match")
    if getattr(model, "has_encoder", False) or not invert:
        scores, method = reconstruction_errors(model, ds.images, batch_size), "reconstruction"
    else:
        scores, method = inversion_errors(model, ds.images, batch_size, **invert_options), "inversion"
    return OutlierReport(scores.astype(np.float64), names, by_rows, method, notes)


def rank_images(ds, model) -> np.ndarray:
    """The images of ``ds`` as the model scored them: uint8 ``[N, S, S, C]`` at its size and channels."""
    from animegen.data.imageset import convert

    return convert(ds, model.spec.size, model.spec.channels).images


def captioned_grid(images: np.ndarray, captions: list[str], ncol: int = 8, scale: int = 1) -> np.ndarray:
    """uint8 ``[N, H, W, C]`` tiles, each with its caption above it → one uint8 ``[H', W', 3]`` picture."""
    from animegen.imaging import make_grid

    tiles = np.stack([make_grid(im[None], nrow=1, col_labels=[cap], scale=scale)
                      for im, cap in zip(images, captions, strict=True)])
    return make_grid(tiles, nrow=ncol, padding=0)  # [H', W', 3]
