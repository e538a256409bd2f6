"""Calibrated Gaussian decoder (analytic σ-VAE, Rybkin et al. 2021) and the VAE's config checks."""
from __future__ import annotations

import math

import pytest
import torch

from animegen.config import resolve_run_config
from animegen.errors import ConfigError
from animegen.models import DataSpec, SimpleContext, losses
from animegen.models.vae import VAE, VAEConfig

SPEC = DataSpec(3, 16)
TINY = dict(arch="conv", widths=(4, 8), latent_dim=4)


def batch(seed: int = 0, n: int = 4) -> torch.Tensor:
    return torch.rand(n, *SPEC.shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1  # [n, 3, 16, 16]


def test_calibrated_sigma_is_the_batch_rmse_and_maximises_the_likelihood():
    torch.manual_seed(0)
    model = VAE(VAEConfig(**TINY, calibrate_obs_std=True), SPEC)
    x = batch()
    ctx = SimpleContext(model.make_optimizers())
    torch.manual_seed(1)
    t = model._terms(x, ctx)
    torch.manual_seed(1)
    mu, logvar = model.posterior(x)
    out = model.decoder(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)).float()  # same ε as _terms
    mse = (x - out).pow(2).mean()
    torch.testing.assert_close(t["log_std"].exp(), mse.sqrt().detach())
    # σ² = MSE is the maximum-likelihood shared σ: any other σ gives a larger −log p(x|z) for the batch
    best = losses.gaussian_nll(x, out, t["log_std"]).sum()
    for factor in (0.8, 1.25):
        assert losses.gaussian_nll(x, out, t["log_std"] + math.log(factor)).sum() > best
    # and the summed recon equals D/2·(1 + log 2π σ²) per image on average
    d = x[0].numel()
    torch.testing.assert_close(t["recon"].mean(), d / 2 * (1 + math.log(2 * math.pi) + 2 * t["log_std"]),
                               rtol=1e-4, atol=1e-2)


def test_calibrated_sigma_is_logged_and_the_running_sigma_follows_it():
    torch.manual_seed(0)
    cfg = VAEConfig(**TINY, calibrate_obs_std=True, obs_std=0.05, obs_std_momentum=0.5)
    model = VAE(cfg, SPEC)
    ctx = SimpleContext(model.make_optimizers())
    s = model.train_step(batch(), ctx)
    assert s["obs_std"] > 0.2  # random init: the error (≈ 0.6 rms) is far above the 0.05 start
    run = math.exp(float(model.log_obs_std))
    assert run == pytest.approx(math.sqrt(0.5 * 0.05 ** 2 + 0.5 * float(s["obs_std"]) ** 2), rel=1e-4)
    ev = model.eval_step(batch(1))
    assert ev["obs_std"] == pytest.approx(run, rel=1e-5)  # validation uses the running (fixed) σ


def test_fixed_sigma_and_bernoulli_still_work():
    torch.manual_seed(0)
    fixed = VAE(VAEConfig(**TINY, obs_std=0.1), SPEC)
    s = fixed.train_step(batch(), SimpleContext(fixed.make_optimizers()))
    assert s["obs_std"] == pytest.approx(0.1)
    bern = VAE(VAEConfig(**TINY, likelihood="bernoulli", calibrate_obs_std=True), SPEC)
    s = bern.train_step(batch(), SimpleContext(bern.make_optimizers()))
    assert "obs_std" not in s and torch.isfinite(s["loss"])


def test_input_noise_corrupts_only_the_encoder_input():
    torch.manual_seed(0)
    model = VAE(VAEConfig(**TINY, input_noise=0.5), SPEC)
    seen = []
    model.encoder.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach().clone()))
    x = batch()
    model._terms(x, SimpleContext(model.make_optimizers()))
    assert not torch.allclose(seen[-1], x)
    assert (seen[-1] - x).std() == pytest.approx(0.5, rel=0.15)
    model.eval_step(x)  # validation sees the clean image
    torch.testing.assert_close(seen[-1], x)


@pytest.mark.parametrize("setting, words", [
    ("model.obs_std=0", "obs_std must be > 0"),
    ("model.obs_std=-0.1", "obs_std must be > 0"),
    ("model.beta=-1", "beta must be >= 0"),
    ("model.input_noise=-0.1", "input_noise"),
    ("model.obs_std_momentum=1", "obs_std_momentum"),
    ("model.mmd_weight=-1", "mmd_weight must be >= 0"),
])
def test_bad_vae_settings_fail_with_one_line(setting, words):
    cfg = resolve_run_config("vae", overrides=[setting])
    with pytest.raises(ConfigError, match=words) as err:
        VAE(cfg.model, SPEC)
    assert "\n" not in str(err.value)


def test_learned_and_calibrated_sigma_are_exclusive():
    with pytest.raises(ConfigError, match="choose one"):
        VAE(VAEConfig(**TINY, learn_obs_std=True, calibrate_obs_std=True), SPEC)


def test_mmd_is_near_zero_for_prior_draws_and_grows_with_the_mismatch():
    g = torch.Generator().manual_seed(0)
    prior = torch.randn(64, 32, generator=g)
    same = [float(losses.mmd_imq(torch.randn(64, 32, generator=g), prior)) for _ in range(5)]
    wide = float(losses.mmd_imq(2.0 * torch.randn(64, 32, generator=g), prior))
    shifted = float(losses.mmd_imq(torch.randn(64, 32, generator=g) + 1.0, prior))
    assert max(abs(v) for v in same) < 0.02 < 0.2 < min(wide, shifted)
    assert float(losses.mmd_imq(prior[:1], prior[:1])) == 0.0  # one code: nothing to compare


def test_mmd_term_is_logged_and_pulls_wide_codes_towards_the_prior():
    torch.manual_seed(0)
    model = VAE(VAEConfig(**TINY, mmd_weight=100.0), SPEC)
    ctx = SimpleContext(model.make_optimizers())
    out = model.train_step(batch(n=8), ctx)
    assert "mmd" in out and torch.isfinite(out["mmd"])
    plain = VAE(VAEConfig(**TINY), SPEC)
    assert "mmd" not in plain.train_step(batch(n=8), SimpleContext(plain.make_optimizers()))
    z = (3.0 * torch.randn(16, 4)).requires_grad_(True)
    (grad,) = torch.autograd.grad(losses.mmd_imq(z, torch.randn(16, 4)), z)
    assert float((grad * z).sum()) > 0  # descending the MMD shrinks codes that are too wide
