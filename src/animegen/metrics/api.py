"""Quick KID/FID on small subsets of images (notebooks, scripts; training has its own, ``train.eval_kid``).

    from animegen.metrics.api import diversity_score, inception_available, quick_kid
    if inception_available():
        scores = quick_kid(real_uint8, fake_uint8, n=500)   # real features cached in memory by content
    diversity_score(fake_uint8)                             # no network

Each call runs InceptionV3 on ``n`` generated images (and once on ``n`` real ones): on a CPU that costs
far more than a training step, which is why the trainer's quick KID (:mod:`animegen.train.quality`) is
opt-in and capped to a share of the CPU time; measure a checkpoint with ``animegen evaluate``. KID is
unbiased, so it is the number to watch at small n; FID at small n is biased upwards and only comparable at equal n.
"""
from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any

import numpy as np

from animegen.metrics.diversity import diversity_score
from animegen.metrics.fid import fid_from_features
from animegen.metrics.kid import kid

__all__ = ["quick_kid", "quick_fid", "diversity_score", "inception_available"]

_REAL_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()


def inception_available(path: str | None = None) -> bool:
    """True when verified FID Inception weights are present (nothing is downloaded)."""
    from animegen.metrics.inception import InceptionWeightsError, find_weights

    try:
        find_weights(path)
        return True
    except InceptionWeightsError:
        return False


def _subset(images: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    if n is None or len(images) <= n:
        return images
    return images[np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))]


def _features(images: np.ndarray, inception: str | None, precision: str, batch_size: int) -> np.ndarray:
    from animegen.metrics.inception import get_extractor

    return get_extractor(inception, batch_size=batch_size, precision=precision).extract(images, logits=False).pool


def _real_features(real: np.ndarray, inception: str | None, precision: str, batch_size: int) -> np.ndarray:
    key = hashlib.sha1(np.ascontiguousarray(real).data).hexdigest() + f"|{real.shape}|{inception}|{precision}"
    if key in _REAL_CACHE:
        _REAL_CACHE.move_to_end(key)
        return _REAL_CACHE[key]
    feats = _features(real, inception, precision, batch_size)
    _REAL_CACHE[key] = feats
    while len(_REAL_CACHE) > 2:
        _REAL_CACHE.popitem(last=False)
    return feats


def quick_kid(real: np.ndarray, fake: np.ndarray, n: int | None = 500, subsets: int = 50,
              subset_size: int | None = None, seed: int = 0, inception: str | None = None,
              precision: str = "fp32", batch_size: int = 32) -> dict[str, Any]:
    """KID between (a seeded subset of ``n`` of) real and generated uint8 ``[N, H, W, C]`` images.

    Real features are cached in memory (keyed by content), so repeated calls with the same real
    images only pay for the generated ones. Returns ``{"kid", "kid_std", "n_real", "n_fake", "seconds"}``.
    """
    t0 = time.perf_counter()
    r = _real_features(_subset(real, n, seed), inception, precision, batch_size)
    f = _features(_subset(fake, n, seed + 1), inception, precision, batch_size)
    m = subset_size or min(len(r), len(f), 1000)
    k, s = kid(r, f, subsets=subsets, subset_size=m, seed=seed)
    return {"kid": k, "kid_std": s, "n_real": len(r), "n_fake": len(f), "seconds": time.perf_counter() - t0}


def quick_fid(real: np.ndarray, fake: np.ndarray, n: int | None = 500, seed: int = 0, inception: str | None = None,
              precision: str = "fp32", batch_size: int = 32) -> dict[str, Any]:
    """FID and KID on small subsets (FID is biased at small n: compare only at equal n)."""
    t0 = time.perf_counter()
    r = _real_features(_subset(real, n, seed), inception, precision, batch_size)
    f = _features(_subset(fake, n, seed + 1), inception, precision, batch_size)
    k, s = kid(r, f, subsets=50, subset_size=min(len(r), len(f), 1000), seed=seed)
    return {"fid": fid_from_features(r, f), "kid": k, "kid_std": s, "n_real": len(r), "n_fake": len(f),
            "seconds": time.perf_counter() - t0}
