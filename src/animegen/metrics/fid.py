"""Fréchet Inception Distance (Heusel et al. 2017, "GANs trained by a two time-scale update rule").

Three pure steps: features ``[N, D]`` → :func:`feature_statistics` (mean, covariance, float64) →
:func:`frechet_distance`::

    FID = ‖μ₁ − μ₂‖² + tr(Σ₁) + tr(Σ₂) − 2 tr((Σ₁ Σ₂)^½)

``tr((Σ₁Σ₂)^½)`` is computed without a general matrix square root: with ``Σ₁ = L Lᵀ`` (Cholesky;
for a singular Σ₁ the symmetric root from ``eigh``), ``Σ₁Σ₂`` is similar to the symmetric PSD
matrix ``Lᵀ Σ₂ L``, so the trace is the sum of the square roots of its eigenvalues — real by
construction, no complex parts to discard. ``method="sqrtm"`` uses ``scipy.linalg.sqrtm`` as pytorch-fid does
(with its ε·I retry); both agree to ~1e-9 relative on well-conditioned inputs (see the tests).
"""
from __future__ import annotations

import numpy as np

from animegen.metrics.common import MetricError, check_features


def feature_statistics(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and unbiased covariance ``[D, D]`` (ddof = 1) in float64."""
    f = check_features(feats, "FID statistics").astype(np.float64)
    mu = f.mean(axis=0)
    centred = f - mu
    sigma = centred.T @ centred / (f.shape[0] - 1)  # [D, D]
    return mu, sigma


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, method: str = "eigh", eps: float = 1e-6) -> float:
    """``tr((Σ₁ Σ₂)^½)`` for symmetric PSD ``Σ₁, Σ₂``.

    ``eigh``: with a Cholesky factor ``Σ₁ = L Lᵀ`` the product is similar to ``Lᵀ Σ₂ L`` (symmetric
    PSD), so the trace is Σ √λ of that matrix; a singular ``Σ₁`` (N ≤ D) falls back to the symmetric
    square root ``S = Σ₁^½`` from ``eigh`` and ``S Σ₂ S``. ``sqrtm``: scipy's general square root.
    """
    if method == "eigh":
        try:
            low = np.linalg.cholesky(sigma1)
            m = low.T @ sigma2 @ low
        except np.linalg.LinAlgError:  # singular: fewer samples than dimensions
            s = _psd_sqrt(sigma1)
            m = s @ sigma2 @ s
        w = np.linalg.eigvalsh((m + m.T) / 2)
        return float(np.sqrt(np.clip(w, 0, None)).sum())
    if method == "sqrtm":
        from scipy import linalg

        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():  # singular product: offset both (pytorch-fid's fix)
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if np.iscomplexobj(covmean):
            if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
                raise MetricError(f"FID: matrix square root has a large imaginary part "
                                  f"({np.abs(covmean.imag).max():.3g}); use method='eigh'")
            covmean = covmean.real
        return float(np.trace(covmean))
    raise ValueError(f"unknown method {method!r} (eigh or sqrtm)")


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     method: str = "eigh") -> float:
    """Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise MetricError(f"FID: statistics do not match (means {mu1.shape} vs {mu2.shape}, "
                          f"covariances {sigma1.shape} vs {sigma2.shape})")
    for name, a in (("mean", mu1), ("mean", mu2), ("covariance", sigma1), ("covariance", sigma2)):
        if not np.isfinite(a).all():
            raise MetricError(f"FID: {name} contains NaN/inf (did the model produce NaN images?)")
    diff = mu1 - mu2
    tr_covmean = trace_sqrt_product(sigma1, sigma2, method)
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    if not np.isfinite(value):
        raise MetricError("FID: result is not finite")
    # tiny negative values are rounding (identical statistics); anything else is a bug upstream
    if value < 0:
        scale = max(1.0, float(np.trace(sigma1) + np.trace(sigma2)))
        if value < -1e-6 * scale:
            raise MetricError(f"FID: negative result {value:.3g}: covariances are not PSD")
        value = 0.0
    return value


def fid_from_features(feats1: np.ndarray, feats2: np.ndarray, method: str = "eigh") -> float:
    """FID between two feature sets ``[N₁, D]`` and ``[N₂, D]``.

    When a set has at most half as many samples as dimensions (e.g. N = 500 during training), the
    covariances are low-rank: with ``Aᵢ`` the centred features over √(Nᵢ − 1), ``Σᵢ = AᵢᵀAᵢ`` and
    ``tr((Σ₁Σ₂)^½)`` equals the sum of the singular values of the small ``N₁ × N₂`` matrix
    ``A₁A₂ᵀ`` — exact, and much cheaper than a D × D decomposition.
    """
    a = check_features(feats1, "FID (first set)").astype(np.float64)
    b = check_features(feats2, "FID (second set)").astype(np.float64)
    if a.shape[1] != b.shape[1]:
        raise MetricError(f"FID: feature sizes differ ({a.shape[1]} vs {b.shape[1]})")
    if method == "eigh" and 2 * min(len(a), len(b)) <= a.shape[1]:
        mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
        a1 = (a - mu1) / np.sqrt(len(a) - 1)  # [N1, D]
        a2 = (b - mu2) / np.sqrt(len(b) - 1)  # [N2, D]
        tr_covmean = float(np.linalg.svd(a1 @ a2.T, compute_uv=False).sum())
        diff = mu1 - mu2
        value = float(diff @ diff + (a1 * a1).sum() + (a2 * a2).sum() - 2.0 * tr_covmean)
        return max(value, 0.0) if value > -1e-6 * max(1.0, float((a1 * a1).sum() + (a2 * a2).sum())) else value
    mu1, s1 = feature_statistics(a)
    mu2, s2 = feature_statistics(b)
    return frechet_distance(mu1, s1, mu2, s2, method)
