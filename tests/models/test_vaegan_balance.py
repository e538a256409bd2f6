"""VAE-GAN balance options: the adaptive GAN weight (Esser et al. 2021, eq. 7) and the R1 penalty on D."""
from __future__ import annotations

import math

import pytest
import torch

from animegen.config import resolve_run_config
from animegen.errors import ConfigError
from animegen.models import DataSpec, SimpleContext
from animegen.models.vaegan import VAEGAN, VAEGANConfig

SPEC = DataSpec(3, 16)
TINY = dict(widths=(4, 8), latent_dim=4, d_width=4, diffaug="")


def batch(seed: int = 0, n: int = 6) -> torch.Tensor:
    return torch.rand(n, *SPEC.shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1  # [n, 3, 16, 16]


def step(model: VAEGAN) -> dict[str, float]:
    ctx = SimpleContext(model.make_optimizers())
    return {k: float(v) for k, v in model.train_step(batch(), ctx).items()}


def test_adaptive_weight_is_the_ratio_of_the_gradient_norms_on_the_last_layer():
    torch.manual_seed(0)
    model = VAEGAN(VAEGANConfig(**TINY, adaptive_gan_weight=True), SPEC)
    z = torch.randn(6, 4)
    out = model.decoder(z)  # [6, 3, 16, 16]
    rec, gan = out.pow(2).mean(), 3.0 * out.mean()
    w = model.decoder_last_weight()
    assert w is model.decoder.out.weight
    expected = torch.autograd.grad(rec, w, retain_graph=True)[0].norm() / \
        (torch.autograd.grad(gan, w, retain_graph=True)[0].norm() + 1e-4)
    lam = model._gan_balance(rec, gan)
    assert lam.requires_grad is False and torch.allclose(lam, expected)
    assert torch.allclose(model._gan_balance(2 * rec, gan), 2 * expected, rtol=1e-4)  # it follows the rec. term


def test_the_last_layer_is_the_full_resolution_rgb_conv_with_rgb_skips_too():
    model = VAEGAN(VAEGANConfig(**TINY, rgb_skips=True), SPEC)
    assert len(model.decoder.to_rgb) == 1  # registered after ``out``: not the last layer
    assert model.decoder_last_weight() is model.decoder.out.weight


def test_adaptive_weight_and_r1_are_logged_by_a_training_step():
    torch.manual_seed(0)
    on = step(VAEGAN(VAEGANConfig(**TINY, adaptive_gan_weight=True, r1_gamma=1.0), SPEC))
    assert math.isfinite(on["gan_balance"]) and on["gan_balance"] > 0
    assert math.isfinite(on["r1"]) and on["r1"] > 0
    torch.manual_seed(0)
    off = step(VAEGAN(VAEGANConfig(**TINY), SPEC))
    assert off["gan_balance"] == 1.0 and "r1" not in off


@pytest.mark.parametrize("setting, words", [
    ("model.gan_weight=-1", "gan_weight must be >= 0"),
    ("model.r1_gamma=-0.5", "r1_gamma must be >= 0"),
])
def test_bad_balance_settings_fail_with_one_line(setting, words):
    cfg = resolve_run_config("vaegan", overrides=[setting])
    with pytest.raises(ConfigError, match=words) as err:
        VAEGAN(cfg.model, SPEC)
    assert "\n" not in str(err.value)
