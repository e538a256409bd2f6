"""attribute_retention / class_histogram_distance: probe accuracy on originals vs reconstructions, class spread."""
import colorsys

import numpy as np
import pytest
import torch

from animegen.latent.probe import HUE_CLASSES, LabelColumn, hue_class
from animegen.latent.retention import attribute_retention, class_histogram_distance


class MeanHueProbe:
    """A probe double: the hue class of each image's mean colour (one-hot), for the column ``hair_hue``."""

    def predict(self, x, batch_size=256):
        rgb = ((x.float().mean((2, 3)) + 1) / 2).clamp(0, 1).numpy()  # [N, 3] in [0, 1]
        hues = np.array([colorsys.rgb_to_hls(*px)[0] for px in rgb])
        return {"hair_hue": torch.nn.functional.one_hot(torch.from_numpy(hue_class(hues)), 6).float()}


def solid_faces(n=60, seed=0):
    """Solid squares in saturated random hues [n, 3, 8, 8] and their hue-class labels."""
    g = np.random.default_rng(seed)
    hues = g.random(n)
    rgb = np.array([colorsys.hls_to_rgb(h, 0.5, 0.9) for h in hues], np.float32)  # [n, 3]
    x = torch.from_numpy(rgb * 2 - 1)[:, :, None, None].expand(n, 3, 8, 8).contiguous()
    return x, [LabelColumn("hair_hue", hue_class(hues), HUE_CLASSES)]


def test_a_perfect_reconstruction_loses_nothing():
    x, cols = solid_faces()
    rep = attribute_retention(MeanHueProbe(), x, x.clone(), cols)["hair_hue"]
    assert rep["original"] == 1.0 and rep["reconstruction"] == 1.0
    assert rep["drop_points"] == 0.0 and rep["agreement"] == 1.0


def test_grey_or_recoloured_reconstructions_lose_the_colour():
    x, cols = solid_faces()
    grey = x.mean(1, keepdim=True).expand_as(x)  # every colour → grey (hue 0, "red")
    rep = attribute_retention(MeanHueProbe(), x, grey, cols)["hair_hue"]
    red_share = float((cols[0].values == 0).mean())
    assert rep["reconstruction"] == pytest.approx(red_share) and rep["drop_points"] == pytest.approx(
        100 * (1 - red_share))
    swapped = x[:, [2, 1, 0]]  # red ↔ blue: most hues move class
    rep2 = attribute_retention(MeanHueProbe(), x, swapped, cols)["hair_hue"]
    assert rep2["drop_points"] > 30 and rep2["agreement"] < 0.7
    half = x.clone()
    half[: len(x) // 2] = swapped[: len(x) // 2]  # half of them lose it: about half the swap's drop
    rep3 = attribute_retention(MeanHueProbe(), x, half, cols)["hair_hue"]
    assert 0 < rep3["drop_points"] < rep2["drop_points"]


def test_bad_inputs_are_refused():
    x, cols = solid_faces(10)
    with pytest.raises(ValueError, match="differ in shape"):
        attribute_retention(MeanHueProbe(), x, x[:5], cols)
    with pytest.raises(ValueError, match="no class labels for eye_hue"):
        attribute_retention(MeanHueProbe(), x, x, cols, names=("hair_hue", "eye_hue"))
    with pytest.raises(ValueError, match="10 images but labels"):
        attribute_retention(MeanHueProbe(), x, x, [LabelColumn("hair_hue", cols[0].values[:4], HUE_CLASSES)])


def test_class_histogram_distance_is_zero_for_the_labels_own_pictures_and_one_for_one_foreign_colour():
    x, cols = solid_faces()
    same = class_histogram_distance(MeanHueProbe(), x, cols, names=("hair_hue",))["hair_hue"]
    assert same["total_variation"] == pytest.approx(0.0)
    assert sum(same["generated"].values()) == pytest.approx(1.0)
    grey = torch.zeros_like(x)  # all predicted red
    d = class_histogram_distance(MeanHueProbe(), grey, cols, names=("hair_hue",))["hair_hue"]
    assert d["total_variation"] == pytest.approx(1 - float((cols[0].values == 0).mean()))
