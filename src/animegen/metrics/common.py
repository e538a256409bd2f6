"""Small shared pieces of the metrics: the error type, feature checks, chunked distances."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from animegen.errors import AnimegenError


class MetricError(AnimegenError):
    """A metric that cannot be computed from what it was given (NaN features, too few samples)."""


def check_features(feats: Any, what: str, min_n: int = 2) -> np.ndarray:
    """``feats`` as a 2-D finite array with at least ``min_n`` rows, else a MetricError."""
    f = np.asarray(feats)
    if f.ndim != 2:
        raise MetricError(f"{what}: expected features [N, D], got shape {f.shape}")
    if f.shape[0] < min_n:
        raise MetricError(f"{what}: needs at least {min_n} samples, got {f.shape[0]}")
    if not np.isfinite(f).all():
        bad = int((~np.isfinite(f)).any(axis=1).sum())
        raise MetricError(f"{what}: {bad} of {f.shape[0]} feature vectors contain NaN/inf "
                          "(did the model produce NaN images?)")
    return f


def pairwise_distances(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, chunk: int = 2048,
                       dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Euclidean distances ``[len(a), len(b)]``, computed ``chunk`` rows at a time."""
    ta = torch.as_tensor(np.asarray(a), dtype=dtype) if not isinstance(a, torch.Tensor) else a.to(dtype)
    tb = torch.as_tensor(np.asarray(b), dtype=dtype) if not isinstance(b, torch.Tensor) else b.to(dtype)
    out = torch.empty(ta.shape[0], tb.shape[0], dtype=dtype)
    for i in range(0, ta.shape[0], chunk):
        out[i : i + chunk] = torch.cdist(ta[i : i + chunk], tb, compute_mode="use_mm_for_euclid_dist")
    return out


def kth_smallest(d: torch.Tensor, k: int, chunk: int = 4096) -> torch.Tensor:
    """The k-th smallest value (1-based) of each row of ``d``."""
    return torch.cat([d[i : i + chunk].kthvalue(k, dim=1).values for i in range(0, d.shape[0], chunk)])


def finite_or_none(x: Any) -> Any:
    """JSON-safe: floats that are NaN/inf become None; containers are cleaned recursively."""
    if isinstance(x, dict):
        return {k: finite_or_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite_or_none(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
