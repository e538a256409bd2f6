"""mnist end to end on a tiny budget (stand-in IDX digits; no shared data needed), and its anomaly AUROC."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exp_checks import check_section, finite  # noqa: E402
from fake_mnist import fake_mnist  # noqa: E402

from animegen.experiments import run_experiments  # noqa: E402
from animegen.experiments.mnist import auroc  # noqa: E402


def test_mnist_tiny(tmp_path):
    root = fake_mnist(tmp_path / "mnist")
    md, = run_experiments(["mnist"], tmp_path / "out", data=f"mnist:{root}", minutes=0.02, max_steps=3)
    data = check_section(md)
    assert len(data["rows"]) == 6 and data["rows"][0]["article"] == "159 → 105"
    assert len(data["images"]) == 4
    for fam in ("ae", "vae"):
        m = data["numbers"]["models"][fam]
        assert m["per_epoch"] and all(finite(e["loss_per_image"]) and e["loss_per_image"] > 0 for e in m["per_epoch"])
        assert finite(m["test_bce_per_image"]) and m["test_bce_per_image"] > 0
        assert abs(m["test_bce_per_pixel"] * 784 - m["test_bce_per_image"]) < 1e-3 * m["test_bce_per_image"]
        assert 0 <= m["test_mean_abs_error"] <= 1
        assert 0 <= m["anomaly_auroc"] <= 1 and m["morph_jump_ratio"] >= 1.0
        assert m["samples_near_ratio"] > 0 and all(0 <= d <= 9 for d in m["most_anomalous_digits"])
    assert finite(data["numbers"]["models"]["vae"]["test_nelbo_per_image"])


def test_mnist_real_digits_open(mnist_dir):
    from animegen.data.sources import open_source

    assert len(open_source(f"mnist:{mnist_dir}:test")) == 10_000


def test_auroc():
    assert auroc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0
    assert auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 0.0
    assert auroc(np.array([1.0]), np.array([1.0])) == 0.5
