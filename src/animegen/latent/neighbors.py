"""Nearest training images of generated samples: the memorisation check by eye.

    model = animegen.load("runs/dcgan-1/final.safetensors")
    res = find_neighbors(model, open_source("data/faces64"), n=8, k=5)     # Inception features
    res.indices, res.distances          # [n, k] nearest training rows and their distances, nearest first

A model that copies its training set shows samples whose nearest neighbour is the same picture; one that
generalises shows related but different faces. The distances are measured in the FID network's pool3
feature space (:mod:`animegen.metrics.inception`, Heusel et al. 2017), where near-copies are close even
when shifted by a pixel, or in raw pixel space (``features="pixels"``: no weights needed, but sensitive to
small shifts). The summary statistics are :func:`animegen.metrics.memorisation.memorisation` (the
d₁/d₂ < 1/3 copy criterion of Yoon et al. 2023) on the same features.

The dataset's Inception features are cached by content fingerprint
(:func:`animegen.metrics.refstats.reference_features`, ``$ANIMEGEN_CACHE/fid-ref``), so a second call on
the same dataset only extracts the samples' features.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from animegen.errors import AnimegenError

FEATURES = ("inception", "pixels")


@dataclass
class NeighborResult:
    samples: np.ndarray  # uint8 [n, H, W, C]
    indices: np.ndarray  # [n, k] training rows, nearest first
    distances: np.ndarray  # [n, k]
    features: str
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def sample_images(model, n: int, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """``n`` samples of ``model`` as uint8 ``[n, H, W, C]`` (same seed, same samples)."""
    from animegen.imaging import to_uint8

    gen = torch.Generator().manual_seed(seed)
    parts = [model.sample(min(batch_size, n - i), generator=gen).float().cpu() for i in range(0, n, batch_size)]
    return to_uint8(torch.cat(parts))  # [n, H, W, C]


def _pixel_features(images: np.ndarray) -> np.ndarray:  # uint8 [N, H, W, C] → [N, H·W·C] in [0, 1]
    return (np.asarray(images, dtype=np.float32) / 255.0).reshape(len(images), -1)  # [N, H·W·C]


def nearest(query: np.ndarray, ref: np.ndarray, k: int, ref_scale: float = 1.0,
            block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean ``(distances [Q, k], indices [Q, k])`` of each query row's ``k`` nearest rows of
    ``ref * ref_scale`` (``ref`` is read in blocks, so a uint8 pixel array never becomes float all at once)."""
    q = torch.as_tensor(np.asarray(query, dtype=np.float32))  # [Q, F]
    dists, idx = [], []
    for j in range(0, len(ref), block):
        r = torch.as_tensor(np.asarray(ref[j : j + block], dtype=np.float32)) * ref_scale  # [b, F]
        top = torch.topk(torch.cdist(q, r).double(), min(k, len(r)), dim=1, largest=False)
        dists.append(top.values)
        idx.append(top.indices + j)
    d_all, i_all = torch.cat(dists, 1), torch.cat(idx, 1)  # [Q, ≤ blocks·k]
    top = torch.topk(d_all, min(k, d_all.shape[1]), dim=1, largest=False)
    return top.values.numpy(), torch.gather(i_all, 1, top.indices).numpy()


def _inception_features(samples: np.ndarray, train: np.ndarray, ds,
                        inception: str | None) -> tuple[np.ndarray, np.ndarray, bool]:
    from animegen.metrics.inception import INSTALL_HINT, InceptionWeightsError, get_extractor
    from animegen.metrics.refstats import reference_features

    try:
        ext = get_extractor(inception)
    except InceptionWeightsError as exc:
        first = str(exc).split(";")[0]
        raise InceptionWeightsError(f"{first}; install them ({INSTALL_HINT}) or use --features pixels") from None
    ref = reference_features(train, f"{ds.fingerprint}-{train.shape[1]}x{train.shape[3]}", ext, name=ds.name)
    return ext.extract(samples, logits=False, desc="sample features").pool, ref.pool, ref.cached


def find_neighbors(model, ds, n: int = 8, k: int = 5, features: str = "inception", seed: int = 0,
                   inception: str | None = None) -> NeighborResult:
    """``n`` samples of ``model`` and the ``k`` nearest images of the ImageSet ``ds`` (module doc)."""
    from animegen.data.imageset import convert
    from animegen.metrics.memorisation import THRESHOLD, memorisation

    if features not in FEATURES:
        raise AnimegenError(f"--features must be one of {', '.join(FEATURES)}, got {features!r}")
    if n < 1 or k < 1:
        raise AnimegenError("--n and --k must be >= 1")
    if len(ds) < max(k, 3):
        raise AnimegenError(f"{ds.name} has {len(ds)} images; need at least {max(k, 3)} for {k} neighbours")
    notes = []
    c, s = model.spec.channels, model.spec.size
    if (ds.size, ds.channels) != (s, c):
        notes.append(f"converted {ds.size}px {ds.channels}-channel images to the model's {s}px {c}-channel output")
    train = convert(ds, s, c).images  # [N, S, S, C]
    samples = sample_images(model, n, seed)
    if features == "pixels":
        dist, idx = nearest(_pixel_features(samples), train.reshape(len(train), -1), max(k, 2), ref_scale=1 / 255)
        summary: dict[str, Any] = {"dataset_features_cached": False}
    else:
        fq, fr, cached = _inception_features(samples, np.asarray(train), ds, inception)
        dist, idx = nearest(fq, fr, max(k, 2))
        summary = {**memorisation(fq, fr), "dataset_features_cached": cached}
    ratio = dist[:, 0] / np.maximum(dist[:, 1], 1e-12)
    summary.update({"features": features, "n_samples": n, "n_train": int(len(train)),
                    "sample_memorised_fraction": float((ratio < THRESHOLD).mean()),
                    "sample_median_ratio": float(np.median(ratio)), "mean_nn_distance": float(dist[:, 0].mean())})
    return NeighborResult(samples, idx[:, :k], dist[:, :k], features, summary, notes)
