"""Cheap diversity scores, sharpness and memorisation on constructed images/features."""
from __future__ import annotations

import numpy as np
import pytest

from animegen.metrics.diversity import diversity_score, mean_pairwise_distance, random_conv_features
from animegen.metrics.memorisation import memorisation
from animegen.metrics.sharpness import laplacian_variance, sharpness


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)


def test_mean_pairwise_distance_exact():
    f = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    assert mean_pairwise_distance(f) == pytest.approx((5 + 10 + 5) / 3)


@pytest.mark.parametrize("space", ["pixels", "random-conv"])
def test_collapsed_batch_scores_zero(images, space):
    same = np.repeat(images[:1], 20, axis=0)
    assert diversity_score(same, space) == pytest.approx(0.0, abs=1e-6)  # cdist rounding only
    assert diversity_score(images, space) > 0.01


def test_random_conv_is_deterministic(images):
    a, b = random_conv_features(images[:5]), random_conv_features(images[:5])
    assert a.shape == (5, 256) and bool((a == b).all())


def test_sharpness_drops_with_blur(images):
    blurred = images.reshape(40, 16, 2, 16, 2, 3).mean(axis=(2, 4)).repeat(2, axis=1).repeat(2, axis=2).astype(np.uint8)
    assert sharpness(blurred) < 0.5 * sharpness(images)
    assert laplacian_variance(np.full((2, 8, 8, 1), 7, np.uint8)).tolist() == [0.0, 0.0]


def test_memorisation_flags_copies_and_not_fresh_samples():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(300, 32))
    copies = train[:50] + rng.normal(scale=1e-3, size=(50, 32))
    fresh = rng.normal(size=(50, 32))
    m_copy = memorisation(copies, train)
    m_fresh = memorisation(fresh, train)
    assert m_copy["memorised_fraction"] == 1.0 and m_copy["nn_distance_ratio"] < 0.01
    assert m_fresh["memorised_fraction"] < 0.1 and 0.5 < m_fresh["nn_distance_ratio"] < 2
    assert m_fresh["memorised_fraction_real"] < 0.1
    held = memorisation(fresh, train, real_holdout=rng.normal(size=(40, 32)))
    assert held["baseline"].startswith("held-out")
