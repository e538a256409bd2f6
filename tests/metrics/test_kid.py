"""KID against a straightforward reference implementation."""
from __future__ import annotations

import numpy as np
import pytest

from animegen.metrics import kid as kid_mod
from animegen.metrics.kid import kid


def reference_kid(x, y, subsets, m, seed):
    """Binkowski et al.'s estimator written plainly: fresh kernels per subset, loops over pairs."""
    rng = np.random.default_rng(seed)
    d = x.shape[1]
    vals = []
    for _ in range(subsets):
        xs = x[rng.choice(len(x), m, replace=False)].astype(np.float64)
        ys = y[rng.choice(len(y), m, replace=False)].astype(np.float64)
        k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
        kxx = sum(k(xs[i], xs[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        kyy = sum(k(ys[i], ys[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        kxy = sum(k(xs[i], ys[j]) for i in range(m) for j in range(m)) / (m * m)
        vals.append(kxx + kyy - 2 * kxy)
    return float(np.mean(vals)), float(np.std(vals))


@pytest.fixture
def sets():
    rng = np.random.default_rng(0)
    return rng.normal(size=(60, 16)).astype(np.float32), (rng.normal(size=(50, 16)) * 1.2 + 0.3).astype(np.float32)


def test_kid_matches_reference(sets):
    x, y = sets
    ours = kid(x, y, subsets=5, subset_size=20, seed=3)
    ref = reference_kid(x, y, 5, 20, 3)
    assert ours[0] == pytest.approx(ref[0], rel=1e-9, abs=1e-12)
    assert ours[1] == pytest.approx(ref[1], rel=1e-9, abs=1e-12)
    assert ours[0] > 0.01


def test_full_kernel_and_per_subset_paths_agree(sets, monkeypatch):
    x, y = sets
    fast = kid(x, y, subsets=30, subset_size=25, seed=1)
    monkeypatch.setattr(kid_mod, "FULL_KERNEL_MAX", 0)
    slow = kid(x, y, subsets=30, subset_size=25, seed=1)
    assert fast == pytest.approx(slow, rel=1e-10, abs=1e-14)


def test_kid_same_distribution_is_near_zero():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(400, 32)), rng.normal(size=(400, 32))
    mean, std = kid(x, y, subsets=20, subset_size=200)
    assert abs(mean) < 3 * std + 1e-3


def test_kid_subset_size_is_capped_by_the_smaller_set(sets):
    x, y = sets
    mean, _ = kid(x, y, subsets=3, subset_size=1000)
    assert np.isfinite(mean)
