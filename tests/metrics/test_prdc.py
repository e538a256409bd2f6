"""Improved precision/recall (k-NN manifolds) on constructed cases and against brute force."""
from __future__ import annotations

import numpy as np
import pytest

from animegen.metrics.prdc import prdc, precision_recall


def brute_force(real, fake, k):
    def radii(x):
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)
        return np.sort(d, axis=1)[:, k]  # index 0 is the point itself

    rr, rf = radii(real), radii(fake)
    d = np.linalg.norm(real[:, None] - fake[None], axis=-1)  # [R, F]
    precision = np.mean((d <= rr[:, None]).any(axis=0))
    recall = np.mean((d <= rf[None, :]).any(axis=1))
    density = (d <= rr[:, None]).sum() / (k * len(fake))
    coverage = np.mean((d <= rr[:, None]).any(axis=1))
    return precision, recall, density, coverage


def test_identical_sets_give_one_one():
    x = np.random.default_rng(0).normal(size=(80, 16))
    assert precision_recall(x, x, k=3) == (1.0, 1.0)


def test_far_disjoint_sets_give_zero_zero():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(60, 8)), rng.normal(size=(70, 8)) + 100.0
    out = prdc(x, y, k=3)
    assert out["precision"] == 0.0 and out["recall"] == 0.0 and out["coverage"] == 0.0 and out["density"] == 0.0


def test_matches_brute_force_and_chunking():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(90, 6)), rng.normal(size=(70, 6)) * 1.3 + 0.4
    ref = brute_force(real, fake, 3)
    for chunk in (7, 4096):
        out = prdc(real, fake, k=3, chunk=chunk)
        assert (out["precision"], out["recall"], out["density"], out["coverage"]) == pytest.approx(ref, abs=1e-12)


def test_collapsed_generator_has_precision_but_no_recall():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(200, 4))
    fake = real[:5].repeat(20, axis=0) + rng.normal(scale=1e-3, size=(100, 4))  # five modes only
    p, r = precision_recall(real, fake, k=3)
    assert p > 0.9 and r < 0.2
