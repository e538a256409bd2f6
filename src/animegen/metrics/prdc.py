"""Improved precision and recall (Kynkäänniemi et al. 2019), plus density and coverage
(Naeem et al. 2020), on the same Inception features as FID.

Each sample's k-NN radius is the distance to its k-th nearest neighbour in its own set (k = 3 as in
the paper; the sample itself excluded). The manifold of a set is the union of balls of those radii.

* precision = share of generated samples inside the real manifold (fidelity);
* recall    = share of real samples inside the generated manifold (variety);
* density   = (1 / kM) Σ_j #{real balls containing fake j} (can exceed 1);
* coverage  = share of real samples whose ball contains at least one generated sample.

Distances are computed in chunks (float32 matrix products, then float64 comparisons).
"""
from __future__ import annotations

import numpy as np
import torch

from animegen.metrics.common import MetricError, check_features, kth_smallest, pairwise_distances


def knn_radii(feats: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """Distance of each row to its k-th nearest other row ``[N]``."""
    out = torch.empty(feats.shape[0], dtype=feats.dtype)
    for i in range(0, feats.shape[0], chunk):
        d = pairwise_distances(feats[i : i + chunk], feats, dtype=feats.dtype)
        # the (k+1)-th smallest: the smallest is the sample itself (distance 0)
        out[i : i + chunk] = kth_smallest(d, k + 1)
    return out


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 3, chunk: int = 2048) -> dict[str, float]:
    """``{"precision", "recall", "density", "coverage"}`` between feature sets ``[N_r, D]``, ``[N_f, D]``."""
    r = torch.as_tensor(check_features(real, "precision/recall (real)", k + 1), dtype=torch.float32)
    f = torch.as_tensor(check_features(fake, "precision/recall (generated)", k + 1), dtype=torch.float32)
    if r.shape[1] != f.shape[1]:
        raise MetricError(f"precision/recall: feature sizes differ ({r.shape[1]} vs {f.shape[1]})")
    rad_r = knn_radii(r, k, chunk).double()  # [N_r]
    rad_f = knn_radii(f, k, chunk).double()  # [N_f]
    inside_real = torch.zeros(f.shape[0], dtype=torch.bool)     # fake j in some real ball
    count_real = torch.zeros(f.shape[0], dtype=torch.float64)   # number of real balls holding fake j
    covered = torch.zeros(r.shape[0], dtype=torch.bool)         # real i's ball holds some fake
    recalled = torch.zeros(r.shape[0], dtype=torch.bool)        # real i in some fake ball
    for i in range(0, r.shape[0], chunk):
        d = pairwise_distances(r[i : i + chunk], f, dtype=torch.float32).double()  # [c, N_f]
        in_r = d <= rad_r[i : i + chunk, None]
        inside_real |= in_r.any(dim=0)
        count_real += in_r.sum(dim=0)
        covered[i : i + chunk] = in_r.any(dim=1)
        recalled[i : i + chunk] = (d <= rad_f[None, :]).any(dim=1)
    return {
        "precision": float(inside_real.double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(count_real.sum() / (k * f.shape[0])),
        "coverage": float(covered.double().mean()),
    }


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of Kynkäänniemi et al. 2019."""
    out = prdc(real, fake, k)
    return out["precision"], out["recall"]
