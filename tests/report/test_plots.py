"""Report charts: EMA smoothing, the log-scale rule, and PNGs that decode."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from animegen.report import plots


def test_ema_smooth_is_debiased_and_smooths():
    assert plots.ema_smooth([5.0, 5.0, 5.0], beta=0.9) == pytest.approx([5.0, 5.0, 5.0])  # no pull towards 0
    assert plots.ema_smooth([1.0, 3.0], beta=0.0) == pytest.approx([1.0, 3.0])  # β = 0: the raw values
    noisy = 10 + np.random.default_rng(0).normal(size=400)
    smooth = plots.ema_smooth(noisy)
    assert smooth[0] == pytest.approx(noisy[0])
    assert smooth[100:].std() < 0.5 * noisy[100:].std()
    assert abs(smooth[100:].mean() - 10) < 0.2


def test_ema_smooth_follows_a_trend_with_the_recurrence():
    v = [1.0, 2.0, 4.0]
    b = 0.5
    m1 = 0.5 * 1.0
    m2 = b * m1 + 0.5 * 2.0
    m3 = b * m2 + 0.5 * 4.0
    expected = [m1 / 0.5, m2 / 0.75, m3 / 0.875]
    assert plots.ema_smooth(v, beta=b) == pytest.approx(expected)


def test_wants_log_only_for_wide_positive_ranges():
    assert plots.wants_log([6e4, 3e4, 1e3])
    assert not plots.wants_log([1.0, 2.0, 3.0])  # narrow
    assert not plots.wants_log([-5.0, 1e3])  # non-positive
    assert not plots.wants_log([float("nan"), 5.0])  # one finite point


def _png(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    assert im.format == "PNG"
    return im


def test_curves_png_draws_one_panel_per_term_with_nonfinite_values_dropped():
    x = list(range(0, 100, 5))
    panels = {"loss": {"train": (x, [1000 / (s + 1) for s in x]),
                       "validation": (x[::4], [900 / (s + 1) for s in x[::4]])},
              "kl": {"train": (x, [float("nan")] + [float(s) for s in x[1:]])},
              "d_real": {"train": (x, [0.5] * len(x))}}
    im = _png(plots.curves_png(panels, ncols=3, xmax=100))
    one = _png(plots.curves_png({"loss": panels["loss"]}, ncols=3))
    assert im.width > 2.5 * one.width  # three panels side by side
    arr = np.asarray(im.convert("RGB")).astype(int)
    assert (arr.std(axis=(0, 1)) > 5).all()  # not a blank canvas
    with pytest.raises(ValueError):
        plots.curves_png({})


def test_health_png_decodes():
    x = [0, 100, 200, 300]
    im = _png(plots.health_png({"run": (x, [0.9, 0.8, 0.3, 0.2])}, {"run": (x, [1, 1, 0.5, 0.5])}, rollbacks=[200],
                               warnings=[300], threshold=0.5, xmax=300))
    assert im.width > im.height
