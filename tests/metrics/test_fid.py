"""FID math on random features: self-distance, a float64 scipy reference, torchmetrics, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from animegen.metrics.common import MetricError
from animegen.metrics.fid import feature_statistics, fid_from_features, frechet_distance, trace_sqrt_product


def _feats(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return (rng.normal(size=(n, d)) @ mix + shift).astype(np.float32)


def scipy_reference(a: np.ndarray, b: np.ndarray) -> float:
    """pytorch-fid's formula, written out: np.cov + scipy.linalg.sqrtm in float64."""
    from scipy import linalg

    a, b = a.astype(np.float64), b.astype(np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_statistics_are_float64_mean_and_unbiased_cov():
    f = _feats(50, 8, 0)
    mu, sigma = feature_statistics(f)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_allclose(mu, f.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(f.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-12)


def test_fid_of_a_set_with_itself_is_zero():
    f = _feats(300, 64, 1)
    assert fid_from_features(f, f) == pytest.approx(0.0, abs=1e-8)


def test_fid_with_fewer_samples_than_dims_itself_is_zero():
    f = _feats(40, 128, 2)  # singular covariance
    assert fid_from_features(f, f) == pytest.approx(0.0, abs=1e-6)


def test_fid_matches_scipy_reference():
    a, b = _feats(400, 64, 3), _feats(350, 64, 4, shift=0.3)
    ours, ref = fid_from_features(a, b), scipy_reference(a, b)
    assert ref > 1
    assert ours == pytest.approx(ref, rel=1e-6)
    mu1, s1 = feature_statistics(a)
    mu2, s2 = feature_statistics(b)
    assert frechet_distance(mu1, s1, mu2, s2, method="sqrtm") == pytest.approx(ref, rel=1e-8)


def test_fid_of_gaussians_has_closed_form():
    # diagonal covariances: FID = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    expect = 5.0 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expect, rel=1e-12)
    assert trace_sqrt_product(np.diag(a), np.diag(b)) == pytest.approx(2 + 4 + 3, rel=1e-12)


def test_fid_matches_torchmetrics_with_the_same_features():
    tm = pytest.importorskip("torchmetrics.image.fid", reason="torchmetrics not installed (reference only)")

    class Passthrough(torch.nn.Module):
        """torchmetrics calls feature(imgs): hand it the features themselves."""

        num_features = 64

        def forward(self, x):
            return x

    a, b = _feats(500, 64, 5), _feats(450, 64, 6, shift=0.2)
    metric = tm.FrechetInceptionDistance(feature=Passthrough(), normalize=False)
    metric.update(torch.from_numpy(a).double(), real=True)
    metric.update(torch.from_numpy(b).double(), real=False)
    ref = float(metric.compute())
    assert fid_from_features(a, b) == pytest.approx(ref, rel=1e-3)


def test_nan_features_are_rejected_with_a_clear_message():
    f = _feats(20, 8, 7)
    g = f.copy()
    g[3, 2] = np.nan
    with pytest.raises(MetricError, match="NaN"):
        fid_from_features(f, g)


def test_mismatched_statistics_are_rejected():
    mu, s = feature_statistics(_feats(20, 8, 8))
    mu2, s2 = feature_statistics(_feats(20, 6, 9))
    with pytest.raises(MetricError, match="do not match"):
        frechet_distance(mu, s, mu2, s2)


def test_too_few_samples():
    with pytest.raises(MetricError, match="at least 2"):
        feature_statistics(np.zeros((1, 4)))


def test_low_rank_path_equals_the_full_computation():
    a, b = _feats(30, 64, 10), _feats(45, 64, 11, shift=0.5)  # fewer samples than dimensions
    mu1, s1 = feature_statistics(a)
    mu2, s2 = feature_statistics(b)
    full = frechet_distance(mu1, s1, mu2, s2, method="eigh")
    assert fid_from_features(a, b) == pytest.approx(full, rel=1e-6)
    assert fid_from_features(a, b) == pytest.approx(scipy_reference(a, b), rel=1e-6)
