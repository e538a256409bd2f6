"""Reference-statistics cache: key parts, no pickles, corrupt files recomputed, splits."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from animegen.data.sources import ImageSet
from animegen.metrics import refstats
from animegen.metrics.inception import Features


class FakeExtractor:
    """Stands in for the network: features = per-channel means, tiled (cheap and deterministic)."""

    class info:
        sha1 = "f" * 40
        kind = "bundle"

    precision = "fp32"

    def __init__(self):
        self.calls = 0

    def extract(self, images, logits=False, desc=""):
        self.calls += 1
        m = images.reshape(len(images), -1, images.shape[-1]).mean(axis=1)  # [N, C]
        rng = np.random.default_rng(0)
        proj = rng.normal(size=(images.shape[-1], 16))
        return Features((m @ proj).astype(np.float32) + rng.normal(size=(len(images), 16)).astype(np.float32), None)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMEGEN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "fid-ref"


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (50, 8, 8, 3), dtype=np.uint8)


def test_computed_once_then_read_from_cache(cache, images):
    ext = FakeExtractor()
    a = refstats.reference_features(images, "fp1", ext, n=20)
    assert not a.cached and a.n == 20 and a.path.parent == cache and a.path.exists()
    b = refstats.reference_features(images, "fp1", ext, n=20)
    assert b.cached and ext.calls == 1
    np.testing.assert_array_equal(a.pool, b.pool)
    np.testing.assert_array_equal(a.sigma, b.sigma)
    assert b.meta["weights_sha1"] == "f" * 40 and b.meta["n"] == 20 and b.meta["resize"] == refstats.RESIZE_ID
    with np.load(a.path, allow_pickle=False) as z:  # plain arrays only
        assert set(z.files) == {"pool", "mu", "sigma", "meta"}


def test_key_changes_with_n_split_seed_weights_precision():
    base = refstats.cache_key("fp", "all", 100, 0, "a" * 40)
    others = [
        refstats.cache_key("fp", "val", 100, 0, "a" * 40),
        refstats.cache_key("fp", "all", 101, 0, "a" * 40),
        refstats.cache_key("fp", "all", 100, 1, "a" * 40),
        refstats.cache_key("fp", "all", 100, 0, "b" * 40),
        refstats.cache_key("fp", "all", 100, 0, "a" * 40, "bf16"),
        refstats.cache_key("fp2", "all", 100, 0, "a" * 40),
    ]
    assert len({base, *others}) == 7


def test_corrupt_cache_file_is_recomputed(cache, images):
    ext = FakeExtractor()
    a = refstats.reference_features(images, "fp2", ext, n=10)
    Path(a.path).write_bytes(b"garbage")
    b = refstats.reference_features(images, "fp2", ext, n=10)
    assert not b.cached and ext.calls == 2


def test_subset_is_seeded_and_without_repeats():
    idx = refstats.select(100, 30, seed=3)
    assert len(set(idx.tolist())) == 30
    np.testing.assert_array_equal(idx, refstats.select(100, 30, seed=3))
    np.testing.assert_array_equal(refstats.select(10, 50), np.arange(10))


def test_splits(images):
    mask = np.zeros(50, bool)
    mask[:5] = True
    ds = ImageSet(images, "d", "fp", val_mask=mask)
    val, how = refstats.split_images(ds, "val")
    assert len(val) == 5 and "own" in how
    train, _ = refstats.split_images(ds, "train")
    assert len(train) == 45
    ds2 = ImageSet(images, "d", "fp")
    v2, how2 = refstats.split_images(ds2, "val", val_fraction=0.1, seed=0)
    t2, _ = refstats.split_images(ds2, "train", val_fraction=0.1, seed=0)
    assert len(v2) == 5 and len(t2) == 45 and "seed 0" in how2
    assert not {bytes(x) for x in v2} & {bytes(x) for x in t2}
