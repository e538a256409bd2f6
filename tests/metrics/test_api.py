"""Quick KID/FID helpers with a stand-in feature extractor (the math is tested elsewhere)."""
from __future__ import annotations

import numpy as np
import pytest

from animegen.metrics import api


@pytest.fixture
def fake_features(monkeypatch):
    calls = []

    def feats(images, inception, precision, batch_size):
        calls.append(len(images))
        x = images.reshape(len(images), -1).astype(np.float64) / 255
        return x[:, :32] + 0.1 * x[:, 32:64]

    monkeypatch.setattr(api, "_features", feats)
    api._REAL_CACHE.clear()
    return calls


def _imgs(seed, n=60):
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)


def test_quick_kid_caches_real_features(fake_features):
    real, fake = _imgs(0), _imgs(1)
    a = api.quick_kid(real, fake, n=40, subsets=5)
    b = api.quick_kid(real, _imgs(2), n=40, subsets=5)
    assert fake_features == [40, 40, 40]  # real features computed once
    assert a["n_real"] == 40 and np.isfinite(a["kid"]) and np.isfinite(b["kid"])
    shifted = np.clip(fake.astype(int) + 80, 0, 255).astype(np.uint8)
    assert api.quick_kid(real, shifted, n=40, subsets=5)["kid"] > a["kid"] + 5 * a["kid_std"]


def test_quick_fid_keys(fake_features):
    out = api.quick_fid(_imgs(0), _imgs(1), n=30)
    assert out["fid"] > 0 and "kid" in out


def test_diversity_score_is_exported():
    assert api.diversity_score(_imgs(3, 10)) > 0
