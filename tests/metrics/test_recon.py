"""MSE / PSNR / SSIM: known values and a plain numpy SSIM reference; reconstruction_metrics on a tiny AE."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from animegen.metrics.recon import gaussian_window, mse, psnr, reconstruction_metrics, ssim


def numpy_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. 2004 with the authors' settings, per channel, 'valid' filtering, via scipy."""
    from scipy.signal import correlate2d

    r = np.arange(11) - 5
    g = np.exp(-(r**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    vals = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch].astype(np.float64) / 255, b[..., ch].astype(np.float64) / 255
        f = lambda t: correlate2d(t, w, mode="valid")  # noqa: E731
        mx, my = f(x), f(y)
        sxx, syy, sxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
        m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
        vals.append(m.mean())
    return float(np.mean(vals))


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    noise = rng.integers(-40, 41, a.shape)
    b = np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)
    return a, b


def test_identical_images(pair):
    a, _ = pair
    assert np.all(mse(a, a) == 0)
    assert np.all(np.isinf(psnr(a, a)))
    np.testing.assert_allclose(ssim(a, a), 1.0, atol=1e-12)


def test_psnr_known_value():
    a = np.zeros((1, 16, 16, 1), np.uint8)
    b = np.full((1, 16, 16, 1), 51, np.uint8)  # 51/255 = 0.2 -> MSE 0.04 -> PSNR = 10 log10(25)
    assert psnr(a, b)[0] == pytest.approx(10 * math.log10(25), rel=1e-12)


def test_ssim_matches_numpy_reference(pair):
    a, b = pair
    ours = ssim(a, b)
    for i in range(len(a)):
        assert ours[i] == pytest.approx(numpy_ssim(a[i], b[i]), abs=1e-10)
    assert 0 < ours.mean() < 1


def test_gaussian_window_is_normalised():
    w = gaussian_window()
    assert w.shape == (11, 11) and float(w.sum()) == pytest.approx(1.0)


def test_float_tensors_in_minus_one_one_are_accepted(pair):
    a, b = pair
    ta = torch.from_numpy(a).permute(0, 3, 1, 2).float() / 127.5 - 1
    tb = torch.from_numpy(b).permute(0, 3, 1, 2).float() / 127.5 - 1
    np.testing.assert_allclose(ssim(ta, tb), ssim(a, b), atol=1e-6)


class _IdentityAE(nn.Module):
    family, has_encoder = "identity", True

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1))

    def reconstruct(self, x):
        return x

    def eval_step(self, batch):
        return {"nll": torch.tensor(2.0)}


def test_reconstruction_metrics_of_a_perfect_autoencoder(pair):
    a, _ = pair
    out = reconstruction_metrics(_IdentityAE(), a, batch_size=2)
    assert out["n"] == 3 and out["mse"] == 0 and out["psnr_inf"] == 3 and out["ssim"] == pytest.approx(1.0)
    assert out["eval"] == {"nll": pytest.approx(2.0)}
