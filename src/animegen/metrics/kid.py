"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs").

Unbiased estimate of the squared MMD between real and generated features with the polynomial
kernel ``k(x, y) = (x·y / d + 1)³``, averaged over ``subsets`` random subsets of
``m = min(subset_size, N_real, N_fake)`` samples from each set (torch-fidelity's defaults: 100 × 1000).
Unlike FID it is unbiased, so it is meaningful for small N; report ``mean ± std`` over subsets.

Per subset, with kernel matrices ``K_xx, K_yy`` (m×m) and ``K_xy``::

    MMD² = (ΣK_xx − tr K_xx) / (m(m−1)) + (ΣK_yy − tr K_yy) / (m(m−1)) − 2 ΣK_xy / m²

When both sets are small enough the full kernel matrices are computed once (float64) and subsets
index into them — the same numbers as computing each subset's kernels afresh, for less work.
"""
from __future__ import annotations

import numpy as np

from animegen.metrics.common import MetricError, check_features

FULL_KERNEL_MAX = 8192
"""Largest set size for which the full kernel matrices are precomputed (8192² float64 = 512 MiB)."""


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None,
                      coef0: float = 1.0) -> np.ndarray:
    """``(γ x·yᵀ + c)^degree`` with ``γ = 1/d`` by default, float64."""
    g = 1.0 / x.shape[1] if gamma is None else gamma
    return (np.asarray(x, np.float64) @ np.asarray(y, np.float64).T * g + coef0) ** degree


def mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    """Unbiased MMD² from kernel matrices (equal sample sizes m ≥ 2)."""
    m = k_xx.shape[0]
    a = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    b = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(a + b - 2.0 * k_xy.mean())


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
        gamma: float | None = None, coef0: float = 1.0, seed: int = 0) -> tuple[float, float]:
    """KID (mean, std over subsets) between feature sets ``[N_r, D]`` and ``[N_f, D]``.

    Subsets are drawn without replacement by ``numpy.random.default_rng(seed)``: for each subset,
    first the real indices, then the fake ones.
    """
    x = check_features(real, "KID (real)").astype(np.float64)
    y = check_features(fake, "KID (generated)").astype(np.float64)
    if x.shape[1] != y.shape[1]:
        raise MetricError(f"KID: feature sizes differ ({x.shape[1]} vs {y.shape[1]})")
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise MetricError("KID: needs at least 2 samples in each set")
    rng = np.random.default_rng(seed)
    full = len(x) <= FULL_KERNEL_MAX and len(y) <= FULL_KERNEL_MAX and subsets * m > min(len(x), len(y))
    if full:
        kxx, kyy, kxy = (polynomial_kernel(x, x, degree, gamma, coef0), polynomial_kernel(y, y, degree, gamma, coef0),
                         polynomial_kernel(x, y, degree, gamma, coef0))
    values = np.empty(subsets)
    for s in range(subsets):
        i = rng.choice(len(x), m, replace=False)
        j = rng.choice(len(y), m, replace=False)
        if full:
            values[s] = mmd2_unbiased(kxx[np.ix_(i, i)], kyy[np.ix_(j, j)], kxy[np.ix_(i, j)])
        else:
            xi, yj = x[i], y[j]
            values[s] = mmd2_unbiased(polynomial_kernel(xi, xi, degree, gamma, coef0),
                                      polynomial_kernel(yj, yj, degree, gamma, coef0),
                                      polynomial_kernel(xi, yj, degree, gamma, coef0))
    return float(values.mean()), float(values.std())
