"""evaluate_images / evaluate_model paths with a stand-in feature extractor (no network): held-out
splits, memorisation against the training part, IS from logits, detection and recon availability."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from animegen.data.sources import ImageSet
from animegen.metrics import evaluate as ev
from animegen.metrics.inception import Features
from animegen.models import DataSpec, GenerativeModel


class StubExtractor:
    """Features: a fixed random projection of 8×8-pooled pixels (deterministic, 48-d); optional logits."""

    class info:
        sha1 = "0" * 40
        kind = "stub"

    precision = "fp32"

    def __init__(self, logits: bool = False):
        self.with_logits = logits
        self.seen = []
        self.proj = np.random.default_rng(0).normal(size=(192, 48))

    def protocol(self):
        return {"network": "stub", "weights_sha1": self.info.sha1}

    def extract(self, images, logits=True, desc=""):
        self.seen.append(len(images))
        x = images.reshape(len(images), 8, images.shape[1] // 8, 8, images.shape[2] // 8, 3).mean(axis=(2, 4))
        f = (x.reshape(len(images), -1) / 255) @ self.proj
        lg = (f[:, :10] * 3) if (logits and self.with_logits) else None
        return Features(f.astype(np.float32), lg, 0.01)


@dataclass
class Cfg:
    latent: int = 3


class Gen(GenerativeModel):
    family = "stub-gen"
    config_cls = Cfg

    def __init__(self, config=None, spec=None):
        super().__init__(config if config is not None else Cfg(), spec if spec is not None else DataSpec(3, 16))
        self.lin = nn.Linear(3, 3 * 16 * 16)

    @property
    def latent_dim(self):
        return 3

    def decode(self, z):
        return torch.tanh(self.lin(z)).view(-1, 3, 16, 16)


@pytest.fixture
def real(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMEGEN_CACHE", str(tmp_path / "cache"))
    imgs = np.random.default_rng(1).integers(0, 256, (80, 16, 16, 3), dtype=np.uint8)
    return ImageSet(imgs, "stub-real", "stubfp")


def _opts(**kw):
    base = dict(n=30, n_real=None, kid_subsets=5, detect=False, use_cache=False)
    base.update(kw)
    return ev.EvalOptions(**base)


def test_generate_is_seeded_and_uint8():
    torch.manual_seed(0)
    g = Gen()
    a, b = ev.generate(g, 7, seed=3, batch=4), ev.generate(g, 7, seed=3, batch=4)
    assert a.dtype == np.uint8 and a.shape == (7, 16, 16, 3) and np.array_equal(a, b)


def test_val_split_uses_train_part_for_memorisation(real):
    ext = StubExtractor()
    rep = ev.evaluate_model(Gen(), real, _opts(real_split="val", val_fraction=0.25, split_seed=2), extractor=ext)
    assert rep["protocol"]["n_real"] == 20 and "val_fraction 0.25, split seed 2" in rep["protocol"]["real_split"]
    assert rep["memorisation"]["baseline"].startswith("held-out") and rep["memorisation"]["n_train"] == 60
    assert ext.seen == [20, 30, 60]  # val reference, generated, train reference
    assert rep["recon"] is None and "no encoder" in rep["unavailable"]["recon"]


def test_real_images_against_themselves(real):
    rep = ev.evaluate_images(real.images, real, _opts(n_real=None, memorisation=True), extractor=StubExtractor())
    assert rep["precision"] == 1.0 and rep["recall"] == 1.0 and rep["memorisation"]["memorised_fraction"] == 1.0
    assert rep["fid"] == pytest.approx(0.0, abs=1e-6)  # (KID of a set against itself is negative: unbiased)


def test_inception_score_when_logits_exist(real):
    rep = ev.evaluate_images(real.images[:30], real, _opts(), extractor=StubExtractor(logits=True))
    assert rep["is"] is not None and rep["is"] >= 1.0 and "is" not in rep["unavailable"]


def test_detection_unavailable_is_reported_not_raised(real, monkeypatch):
    from animegen.metrics import detection

    monkeypatch.setattr(detection, "load_detector", lambda *a, **k: (None, "face detection unavailable: test"))
    rep = ev.evaluate_images(real.images[:20], real, _opts(detect=True), extractor=StubExtractor())
    assert rep["detection"] is None and rep["unavailable"]["detection"].startswith("face detection unavailable")


def test_detection_rates_with_a_given_detector(real, monkeypatch):
    from animegen.metrics import detection

    bright = lambda im: [object()] if im.mean() > 127 else []  # noqa: E731
    monkeypatch.setattr(detection, "load_detector", lambda *a, **k: (bright, "bright-detector"))
    rep = ev.evaluate_images(real.images[:20], real, _opts(detect=True, detect_n=20), extractor=StubExtractor())
    expect = float(np.mean([im.mean() > 127 for im in real.images[:20]]))
    assert rep["detection"]["rate"] == pytest.approx(expect) and rep["detection"]["detector"] == "bright-detector"


def test_nan_samples_fail_with_a_clear_message(real):
    class NaNGen(Gen):
        def decode(self, z):
            return torch.full((z.shape[0], 3, 16, 16), float("nan"))

    from animegen.metrics.common import MetricError

    with pytest.raises(MetricError, match="NaN"):
        ev.evaluate_model(NaNGen(), real, _opts(), extractor=StubExtractor())
