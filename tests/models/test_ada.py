"""Adaptive augmentation (ADA, Karras et al. 2020): how p moves, what it applies, and its place in the DCGAN."""
from __future__ import annotations

import pytest
import torch

from animegen.errors import ConfigError
from animegen.models import DataSpec, SimpleContext
from animegen.models.ada import AdaptiveAugment
from animegen.models.dcgan import DCGAN, DCGANConfig


def test_p_moves_by_the_images_seen_every_interval_towards_the_target():
    ada = AdaptiveAugment("color", target=0.6, kimg=0.1, interval=4)  # 100 images take p from 0 to 1
    confident = torch.ones(8)  # D calls every real image real: r_t = 1 > 0.6
    for _ in range(3):
        ada.observe(confident)
    assert float(ada.p) == 0.0 and ada.sums.tolist() == [24.0, 24.0, 3.0]  # not yet due
    ada.observe(confident)
    assert float(ada.p) == pytest.approx(32 / 100) and ada.sums.tolist() == [0.0, 0.0, 0.0]
    for _ in range(4):  # r_t = (6 − 2) / 8 = 0.5 < 0.6: p falls by the same amount
        ada.observe(torch.tensor([1.0] * 6 + [-1.0] * 2))
    assert float(ada.p) == pytest.approx(0.0, abs=1e-7)
    for _ in range(8):  # clamped at 0, and at 1
        ada.observe(-confident)
    assert float(ada.p) == 0.0
    for _ in range(4 * 10):
        ada.observe(confident)
    assert float(ada.p) == 1.0


def test_p_zero_is_the_identity_and_p_one_transforms_every_image_with_gradients():
    x = torch.rand(6, 3, 16, 16, requires_grad=True)
    ada = AdaptiveAugment("cutout", target=0.6, kimg=1.0)
    assert torch.equal(ada(x), x)
    ada.p.fill_(1.0)
    y = ada(x)
    assert all((y[i] == 0).any() and not torch.equal(y[i], x[i]) for i in range(6))  # every image has its hole
    y.sum().backward()
    assert x.grad is not None and (x.grad == 0).any() and (x.grad == 1).any()
    ada.p.fill_(0.5)
    torch.manual_seed(0)
    picked = sum(not torch.equal(a, b) for a, b in zip(ada(x.detach()), x.detach(), strict=True))
    assert 0 < picked < 6  # seed 0 draws some, not all


def test_the_state_travels_with_the_weights():
    a = AdaptiveAugment("color", target=0.6, kimg=1.0)
    a.observe(torch.ones(4))
    a.p.fill_(0.25)
    b = AdaptiveAugment("color", target=0.6, kimg=1.0)
    b.load_state_dict(a.state_dict())
    assert float(b.p) == 0.25 and torch.equal(a.sums, b.sums)


@pytest.mark.parametrize("sets, words", [
    (dict(ada_target=1.5), "target"), (dict(ada_target=0.6, ada_policy=""), "empty"),
    (dict(ada_target=0.6, ada_policy="blur"), "blur"), (dict(ada_target=0.6, ada_kimg=0), "kimg"),
])
def test_bad_settings_are_config_errors(sets, words):
    with pytest.raises(ConfigError, match=words):
        DCGAN(DCGANConfig(g_width=4, d_width=4, latent_dim=8, **sets), DataSpec(3, 16))


def test_dcgan_steers_p_from_its_real_logits_and_logs_it():
    torch.manual_seed(0)
    model = DCGAN(DCGANConfig(g_width=4, d_width=4, latent_dim=8, ada_target=0.6, ada_kimg=0.01), DataSpec(3, 16))
    assert DCGAN(DCGANConfig(g_width=4, d_width=4, latent_dim=8), DataSpec(3, 16)).ada is None  # off by default
    seen = []
    model.ada.observe = lambda logits: seen.append(logits)  # type: ignore[method-assign]
    ctx = SimpleContext(model.make_optimizers())
    out = model.train_step(torch.rand(4, 3, 16, 16) * 2 - 1, ctx)
    assert "ada_p" in out and len(seen) == 1 and seen[0].shape == (4,)
