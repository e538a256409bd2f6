"""Attribute probes: label columns, linear probes on codes, the image-space classifier and its file format."""
import numpy as np
import pytest
import torch

from animegen.errors import CheckpointError
from animegen.latent.probe import (
    HUE_CLASSES,
    LabelColumn,
    hue_class,
    label_columns,
    linear_probe,
    load_probe,
    save_probe,
    split_mask,
    train_image_probe,
)


def test_hue_classes_wrap_around_and_synthetic_kinds():
    assert [HUE_CLASSES[k] for k in hue_class(np.array([0.02, 0.98, 0.5, 0.66, 1 / 6]))] == \
        ["red", "red", "cyan", "blue", "yellow"]
    cols = {c.name: c for c in label_columns({"hair_hue": np.array([0.01, 0.5], np.float32),
                                              "mouth": np.array([0, 2]), "blush": np.array([0.1, 0.9], np.float32),
                                              "digit": np.array([3, 7])})}
    assert cols["hair_hue"].classes == HUE_CLASSES and list(cols["hair_hue"].values) == [0, 3]
    assert cols["mouth"].classes == ("closed", "smile", "open")
    assert cols["blush"].classes is None and cols["blush"].values.dtype == np.float32
    assert cols["digit"].classes == tuple(str(i) for i in range(8))


def test_linear_probe_finds_planted_structure_and_not_noise():
    g = np.random.default_rng(0)
    x = g.normal(size=(600, 16)).astype(np.float32)
    test = split_mask(600, 0.25, 0)
    planted = (x[:, 3] - 0.5 * x[:, 7] > 0).astype(np.int64)
    noise = g.integers(0, 2, 600)
    good = linear_probe(torch.from_numpy(x), planted, test)
    bad = linear_probe(torch.from_numpy(x), noise, test)
    assert good.value > 0.93 and good.n_test == test.sum()
    assert bad.value < 0.65
    y = x @ g.normal(size=16) + 0.05 * g.normal(size=600)
    assert linear_probe(torch.from_numpy(x), y, test, "value").value > 0.95
    assert linear_probe(torch.from_numpy(x), g.normal(size=600), test, "value").value < 0.2


def _colour_squares(n, seed=0):
    """16 px images: a red or blue square (class) of some brightness (value) on grey."""
    g = np.random.default_rng(seed)
    cls = g.integers(0, 2, n)
    val = g.random(n).astype(np.float32)
    img = np.full((n, 16, 16, 3), 128, np.uint8)
    for i in range(n):
        c = np.array([255, 40, 40] if cls[i] == 0 else [40, 40, 255]) * (0.4 + 0.6 * val[i])
        img[i, 4:12, 4:12] = c.astype(np.uint8)
    return img, [LabelColumn("colour", cls, ("red", "blue")), LabelColumn("bright", val, None, 0.0, 1.0)]


def test_image_probe_learns_and_round_trips(tmp_path):
    img, cols = _colour_squares(320)
    probe, report = train_image_probe(img, cols, epochs=8, batch_size=32, lr=3e-3)
    assert report["held_out"]["colour"]["accuracy"] > 0.9
    assert report["held_out"]["bright"]["r2"] > 0.5
    save_probe(tmp_path / "p.safetensors", probe, report)
    again = load_probe(tmp_path / "p.safetensors")
    x = torch.rand(5, 3, 16, 16) * 2 - 1
    a, b = probe.predict(x), again.predict(x)
    torch.testing.assert_close(a["colour"], b["colour"])
    torch.testing.assert_close(a["bright"], b["bright"])
    assert a["colour"].shape == (5, 2) and torch.allclose(a["colour"].sum(1), torch.ones(5))
    assert again.report["held_out"]["colour"]["accuracy"] == report["held_out"]["colour"]["accuracy"]
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError):
        load_probe(tmp_path / "junk.safetensors")
