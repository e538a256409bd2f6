"""Convenience calls for periodic checks during training (the trainer knows no model, only images).

    from animegen.metrics.api import PeriodicEvaluator, diversity_score, inception_available
    if inception_available():
        check = PeriodicEvaluator(real_uint8, n=500)      # real features: once, on first call
        scores = check(fake_uint8)                          # {"kid", "kid_std", "fid", "diversity", ...}
    diversity_score(fake_uint8)                             # no network: ~1 ms per image

Cost on 2 CPU cores (fp32, ~15 images/s): n = 500 takes ~35 s per check plus ~35 s once for the
real side; ``precision="bf16"`` roughly halves that (relative numbers only). KID is unbiased, so it is
the number to watch at small n; FID at n = 500 is biased upwards and only comparable at equal n.
"""
from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any

import numpy as np

from animegen.metrics.diversity import diversity_score, mean_pairwise_distance
from animegen.metrics.fid import fid_from_features
from animegen.metrics.kid import kid

__all__ = ["PeriodicEvaluator", "quick_kid", "quick_fid", "diversity_score", "inception_available"]

_REAL_CACHE: "OrderedDict[str, np.ndarray]" = OrderedDict()


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


class PeriodicEvaluator:
    """Scores generated batches against a fixed real sample; the real features are computed once.

    ``evaluator(fake_uint8)`` → ``{"kid", "kid_std", "fid", "diversity", "diversity_real",
    "diversity_ratio", "n", "seconds"}`` (diversity in Inception space; ratio ≪ 1: mode collapse).
    """

    def __init__(self, real: np.ndarray, n: int = 500, seed: int = 0, inception: str | None = None,
                 precision: str = "fp32", batch_size: int = 32, kid_subsets: int = 50):
        self.real = _subset(real, n, seed)
        self.n, self.seed, self.inception = n, seed, inception
        self.precision, self.batch_size, self.kid_subsets = precision, batch_size, kid_subsets
        self._real_feats: np.ndarray | None = None
        self._real_div: float | None = None

    def real_features(self) -> np.ndarray:
        if self._real_feats is None:
            self._real_feats = _features(self.real, self.inception, self.precision, self.batch_size)
            self._real_div = mean_pairwise_distance(self._real_feats, seed=self.seed)
        return self._real_feats

    def __call__(self, fake: np.ndarray) -> dict[str, Any]:
        t0 = time.perf_counter()
        r = self.real_features()
        f = _features(_subset(fake, self.n, self.seed + 1), self.inception, self.precision, self.batch_size)
        k, s = kid(r, f, subsets=self.kid_subsets, subset_size=min(len(r), len(f), 1000), seed=self.seed)
        d = mean_pairwise_distance(f, seed=self.seed)
        return {"kid": k, "kid_std": s, "fid": fid_from_features(r, f), "diversity": d,
                "diversity_real": self._real_div, "diversity_ratio": d / self._real_div if self._real_div else None,
                "n": len(f), "seconds": time.perf_counter() - t0}
