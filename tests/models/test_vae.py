"""VAE objective: each term against an independent reference (torch.distributions, pytorch/examples)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from animegen.models import DataSpec, SimpleContext, losses
from animegen.models.ae import AE, AEConfig
from animegen.models.vae import VAE, VAEConfig


def test_kl_closed_form_matches_torch_and_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 5, generator=g)
    logvar = torch.randn(3, 5, generator=g) * 0.5
    kl = losses.kl_diag_normal_std_normal(mu, logvar)  # [3]
    q, p = Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(kl, kl_divergence(q, p).sum(1))
    z = q.sample((200_000,))  # [S, 3, 5]
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)  # E_q[log q − log p]
    torch.testing.assert_close(kl, mc, atol=0.03, rtol=0.01)
    assert torch.all(losses.kl_diag_normal_std_normal(torch.zeros(2, 4), torch.zeros(2, 4)) == 0)


@pytest.mark.parametrize("sigma", [0.05, 0.1, 1.0])
def test_gaussian_nll_is_the_full_log_density(sigma):
    g = torch.Generator().manual_seed(1)
    x, mean = torch.rand(4, 3, 8, 8, generator=g) * 2 - 1, torch.rand(4, 3, 8, 8, generator=g) * 2 - 1
    ref = -Normal(mean, sigma).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(losses.gaussian_nll(x, mean, math.log(sigma)), ref)
    # the log σ and ½ log 2π terms are there: a perfect reconstruction costs D·(log σ + ½ log 2π)
    d = 3 * 8 * 8
    torch.testing.assert_close(losses.gaussian_nll(x, x, math.log(sigma)),
                               torch.full((4,), d * (math.log(sigma) + 0.5 * math.log(2 * math.pi))))


def test_bernoulli_nll_is_bce_summed_per_image():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 1, 28, 28, generator=g) * 2 - 1
    logits = torch.randn(4, 1, 28, 28, generator=g)
    t = (x + 1) / 2
    ref = torch.stack([F.binary_cross_entropy(torch.sigmoid(logits[i]), t[i], reduction="sum") for i in range(4)])
    torch.testing.assert_close(losses.bernoulli_nll(x, logits), ref, rtol=1e-5, atol=1e-3)


def test_kl_weight_schedule():
    assert losses.kl_weight(1.0, 0, 0) == 1.0
    assert [losses.kl_weight(2.0, s, 100) for s in (0, 25, 50, 100, 500)] == [0.0, 0.5, 1.0, 2.0, 2.0]
    assert losses.kl_weight(0.5, 10, 20) == 0.25


def test_mnist_mlp_vae_is_pytorch_examples_784_400_20():
    model = VAE(VAEConfig(arch="mlp", hidden=400, latent_dim=20, likelihood="bernoulli"), DataSpec(1, 28))
    shapes = [tuple(p.shape) for p in model.parameters()]
    # fc1 784→400, fc21+fc22 400→20 (one 400→40 head), fc3 20→400, fc4 400→784
    assert shapes == [(400, 784), (400,), (40, 400), (40,), (400, 20), (400,), (784, 400), (784,)]
    assert sum(p.numel() for p in model.parameters()) == 652_824
    ae = AE(AEConfig(arch="mlp", hidden=400, latent_dim=20, loss="bce"), DataSpec(1, 28))
    assert [tuple(p.shape) for p in ae.parameters()][2] == (20, 400)


def _examples_loss(model: VAE, x: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pytorch/examples vae/main.py ``loss_function`` (summed over the batch), re-implemented by hand."""
    mu, logvar = model.posterior(x)
    z = mu + torch.exp(0.5 * logvar) * eps
    recon = torch.sigmoid(model.decoder(z)).view(-1, 784)
    bce = F.binary_cross_entropy(recon, ((x + 1) / 2).view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce, kld


def test_vae_step_logs_terms_with_the_right_sign_and_scale():
    torch.manual_seed(0)
    model = VAE(VAEConfig(arch="mlp", hidden=32, latent_dim=4, likelihood="bernoulli"), DataSpec(1, 28))
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    eps = torch.randn(8, 4)
    t = model._terms(x, None, eps)
    bce, kld = _examples_loss(model, x, eps)
    torch.testing.assert_close(t["recon"].sum(), bce, rtol=1e-4, atol=1e-2)  # per image, summed over pixels
    torch.testing.assert_close(t["kl"].sum(), kld, rtol=1e-4, atol=1e-4)
    s = model._scalars(t)
    torch.testing.assert_close(s["elbo_per_image"], -(s["recon_per_image"] + s["kl_per_image"]))
    torch.testing.assert_close(s["recon_per_pixel"], s["recon_per_image"] / 784)
    torch.testing.assert_close(s["bits_per_dim"], -s["elbo_per_image"] / (784 * math.log(2)))
    assert s["kl_per_image"] >= 0 and s["recon_per_image"] > 0


def test_train_step_uses_beta_and_warmup():
    torch.manual_seed(0)
    model = VAE(VAEConfig(arch="mlp", hidden=16, latent_dim=4, beta=4.0, kl_warmup_steps=10), DataSpec(1, 28))
    ctx = SimpleContext(model.make_optimizers())
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    for step, expected in [(0, 0.0), (5, 2.0), (10, 4.0), (50, 4.0)]:
        ctx.step = step
        out = model.train_step(x, ctx)
        assert float(out["kl_weight"]) == expected
        torch.testing.assert_close(out["loss"], out["recon_per_image"] + expected * out["kl_per_image"])


def test_obs_std_fixed_or_learned():
    fixed = VAE(VAEConfig(arch="mlp", hidden=8, latent_dim=2, obs_std=0.2), DataSpec(1, 28))
    assert "log_obs_std" in dict(fixed.named_buffers())
    learned = VAE(VAEConfig(arch="mlp", hidden=8, latent_dim=2, obs_std=0.2, learn_obs_std=True), DataSpec(1, 28))
    assert "log_obs_std" in dict(learned.named_parameters())
    ctx = SimpleContext(learned.make_optimizers())
    out = learned.train_step(torch.rand(4, 1, 28, 28) * 2 - 1, ctx)
    assert float(out["obs_std"]) != pytest.approx(0.2, abs=0) and float(learned.log_obs_std.grad.abs()) > 0
    # Gaussian bits/dim include the log2(128) of 8-bit bins on [-1, 1]
    s = fixed._scalars(fixed._terms(torch.zeros(2, 1, 28, 28), None, torch.zeros(2, 2)))
    torch.testing.assert_close(s["bits_per_dim"], -s["elbo_per_image"] / (784 * math.log(2)) + 7.0)


def test_eval_step_is_deterministic_and_leaves_batchnorm_alone():
    torch.manual_seed(0)
    model = VAE(VAEConfig(widths=(4, 8, 8, 8), latent_dim=4), DataSpec(3, 64))
    model.train()
    x = torch.rand(4, 3, 64, 64) * 2 - 1
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    a, b = model.eval_step(x), model.eval_step(x)
    assert list(a)[0] == "nelbo_per_image"
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(v, buffers[k]) for k, v in model.named_buffers())
    assert model.training
    torch.testing.assert_close(a["nelbo_per_image"], a["recon_per_image"] + a["kl_per_image"])


def test_ae_and_vae_share_the_backbone():
    spec = DataSpec(3, 64)
    ae = AE(AEConfig(latent_dim=16), spec)
    vae = VAE(VAEConfig(latent_dim=16), spec)
    dec = lambda m: [tuple(p.shape) for p in m.decoder.parameters()]  # noqa: E731
    assert dec(ae) == dec(vae)
    enc_ae = [tuple(p.shape) for p in ae.encoder.parameters()]
    enc_vae = [tuple(p.shape) for p in vae.encoder.parameters()]
    assert enc_ae[:-2] == enc_vae[:-2]  # same conv stack; the VAE head outputs μ and log σ²
    assert enc_vae[-2] == (32, enc_ae[-2][1])


def test_128px_adds_one_block_and_28px_uses_a_7x7_grid():
    v64 = VAE(VAEConfig(latent_dim=8), DataSpec(3, 64))
    v128 = VAE(VAEConfig(latent_dim=8), DataSpec(3, 128))
    v28 = VAE(VAEConfig(latent_dim=8), DataSpec(1, 28))
    assert len(v128.encoder.features) == len(v64.encoder.features) + 1
    assert len(v128.decoder.ups) == len(v64.decoder.ups) + 1
    with torch.no_grad():
        assert v28.encoder.features(torch.zeros(2, 1, 28, 28)).shape == (2, 64, 7, 7)
        assert v128.encoder.features(torch.zeros(2, 3, 128, 128)).shape == (2, 256, 4, 4)
