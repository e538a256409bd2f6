"""Does a reconstruction keep an image's attributes? Score an image probe on originals and on reconstructions.

The image probe (:class:`animegen.latent.probe.ImageProbe`, trained on the synthetic faces) classifies hair and
eye colour of any picture. On labelled faces, its accuracy on the originals is what the probe itself can do; its
accuracy on the model's reconstructions of the same faces is that minus what the model lost. The drop (in
percentage points) measures attribute loss through the autoencoder, in the spirit of the "attribute preservation"
checks of Lample et al. 2017 (Fader Networks, §4.2), with a classifier trained independently of the model.

    probe = default_probe()
    rep = attribute_retention(probe, images, model.reconstruct(images), label_columns(labels), COLOUR_ATTRIBUTES)
    rep["hair_hue"]  # {"original": 0.97, "reconstruction": 0.95, "drop_points": 2.0, "agreement": 0.96, ...}

:func:`class_histogram_distance` compares the predicted class frequencies of generated images with the labels of
the training set (total variation distance, 0 = same colours in the same proportions).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from animegen.latent.probe import LabelColumn, score_image_probe

COLOUR_ATTRIBUTES = ("hair_hue", "eye_hue")
"""The synthetic faces' colour attributes (six hue classes each)."""


class Predictor(Protocol):
    def predict(self, x: Tensor, batch_size: int = 256) -> dict[str, Tensor]: ...


def _pick(columns: list[LabelColumn], names: Iterable[str] | None) -> list[LabelColumn]:
    wanted = set(names) if names is not None else None
    out = [c for c in columns if c.is_class and (wanted is None or c.name in wanted)]
    if wanted is not None and {c.name for c in out} != wanted:
        missing = sorted(wanted - {c.name for c in out})
        raise ValueError(f"no class labels for {', '.join(missing)}")
    return out


def attribute_retention(probe: Predictor, originals: Tensor, reconstructions: Tensor, columns: list[LabelColumn],
                        names: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
    """Per class attribute in ``names`` (None: every class column): the probe's accuracy on ``originals`` and on
    ``reconstructions`` (both ``[N, C, H, W]`` in [-1, 1], same order as the labels), ``drop_points`` =
    100 × (original − reconstruction), and ``agreement``: the share of images whose predicted class is the
    same for the original and its reconstruction (needs no labels)."""
    if originals.shape != reconstructions.shape:
        raise ValueError(f"originals {list(originals.shape)} and reconstructions {list(reconstructions.shape)} "
                         "differ in shape")
    cols = _pick(columns, names)
    if any(len(c.values) != len(originals) for c in cols):
        raise ValueError(f"{len(originals)} images but labels for {[len(c.values) for c in cols]}")
    s_orig = score_image_probe(probe, originals, cols)  # type: ignore[arg-type]
    s_rec = score_image_probe(probe, reconstructions, cols)  # type: ignore[arg-type]
    p_orig, p_rec = probe.predict(originals), probe.predict(reconstructions)
    out = {}
    for c in cols:
        a, b = s_orig[c.name]["accuracy"], s_rec[c.name]["accuracy"]
        same = (p_orig[c.name].argmax(1) == p_rec[c.name].argmax(1)).float().mean()  # [N] → share
        out[c.name] = {"original": a, "reconstruction": b, "drop_points": 100.0 * (a - b),
                       "agreement": float(same), "chance": s_orig[c.name]["chance"]}
    return out


def class_histogram_distance(probe: Predictor, images: Tensor, columns: list[LabelColumn],
                             names: Iterable[str] | None = None) -> dict[str, dict[str, object]]:
    """Per class attribute: the predicted class frequencies of ``images`` (e.g. prior samples), the label
    frequencies of ``columns`` (e.g. the training set) and their total variation distance ½ Σ |p − q|."""
    cols = _pick(columns, names)
    pred = probe.predict(images)
    out: dict[str, dict[str, object]] = {}
    for c in cols:
        k = len(c.classes or ())
        p = torch.bincount(pred[c.name].argmax(1), minlength=k).double().numpy()
        p = p / max(1.0, p.sum())
        known = c.values[c.known()]
        q = np.bincount(known, minlength=k).astype(np.float64)
        q = q / max(1.0, q.sum())
        out[c.name] = {"generated": dict(zip(c.classes or (), p.round(4).tolist(), strict=True)),
                       "labels": dict(zip(c.classes or (), q.round(4).tolist(), strict=True)),
                       "total_variation": float(0.5 * np.abs(p - q).sum())}
    return out
