"""Inception Score on synthetic logits: the formula exactly, and its known extremes."""
from __future__ import annotations

import numpy as np
import pytest

from animegen.metrics.inception_score import inception_score, softmax


def formula(p: np.ndarray, splits: int) -> tuple[float, float]:
    n = len(p)
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        py = part.mean(0)
        kl = np.sum(part * (np.log(part) - np.log(py)), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def test_is_matches_the_formula_on_random_logits():
    logits = np.random.default_rng(0).normal(scale=3.0, size=(103, 1008))
    ours = inception_score(logits, splits=10)
    ref = formula(softmax(logits), 10)
    assert ours[0] == pytest.approx(ref[0], rel=1e-12)
    assert ours[1] == pytest.approx(ref[1], rel=1e-9)


def test_is_extremes():
    uniform = np.zeros((50, 10))
    assert inception_score(uniform, splits=5) == pytest.approx((1.0, 0.0))
    # confident and evenly spread over 10 classes within each split: IS = 10
    probs = np.eye(10)[np.arange(100) % 10]
    mean, std = inception_score(probs=probs, splits=10)
    assert mean == pytest.approx(10.0) and std == pytest.approx(0.0, abs=1e-12)


def test_is_needs_enough_samples():
    from animegen.metrics.common import MetricError

    with pytest.raises(MetricError):
        inception_score(np.zeros((5, 10)), splits=10)
