"""Fitted latent prior (Ghosh et al. 2020): the fit, sampling through it, checkpoints, the trainer and the CLI."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from animegen.checkpoint import load_model, read_header, save_model, save_tensors
from animegen.errors import CheckpointError
from animegen.latent import fit_gaussian
from animegen.models import DataSpec
from animegen.models.ae import AE, AEConfig
from animegen.models.vae import VAE, VAEConfig


def _correlated(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mean = torch.tensor([3.0, -1.0, 0.5, 10.0])
    a = torch.tensor([[2.0, 0, 0, 0], [1.5, 0.5, 0, 0], [0, 0, 1, 0], [-1, 0, 0.3, 0.1]])
    x = mean + torch.randn(n, 4, generator=g) @ a.T  # N(mean, a aᵀ)
    return x, mean, a @ a.T


def test_fit_recovers_mean_and_covariance():
    x, mean, cov = _correlated(50_000)
    fit = fit_gaussian(x)
    assert fit.count == 50_000
    torch.testing.assert_close(fit.mean, mean, atol=0.05, rtol=0)
    torch.testing.assert_close(fit.scale_tril @ fit.scale_tril.T, cov, atol=0.08, rtol=0.03)
    assert torch.equal(fit.scale_tril, fit.scale_tril.tril())
    # sampling through the fit reproduces the statistics of the data
    s = fit.sample(torch.randn(50_000, 4, generator=torch.Generator().manual_seed(1)))
    torch.testing.assert_close(s.mean(0), mean, atol=0.05, rtol=0)
    torch.testing.assert_close(torch.cov(s.T), cov, atol=0.1, rtol=0.05)


def test_fit_survives_rank_deficiency_and_rejects_bad_codes():
    fit = fit_gaussian(torch.randn(3, 16))  # 3 codes in 16 dimensions: singular covariance
    assert torch.isfinite(fit.scale_tril).all() and (fit.scale_tril.diagonal() > 0).all()
    dead = torch.randn(100, 5)
    dead[:, 2] = 1.0  # a dimension the encoder never uses
    assert torch.isfinite(fit_gaussian(dead).scale_tril).all()
    with pytest.raises(ValueError, match="N >= 2"):
        fit_gaussian(torch.randn(1, 4))
    with pytest.raises(ValueError, match="NaN"):
        fit_gaussian(torch.tensor([[0.0, float("nan")], [1.0, 2.0]]))


def _ae(cls=AE, cfg=AEConfig):
    torch.manual_seed(0)
    return cls(cfg(latent_dim=8, widths=(8, 16)), DataSpec(3, 16)).eval()


def _batches(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 16, 16, generator=g) * 2 - 1
    return [x[i:i + 16] for i in range(0, n, 16)]


@pytest.mark.parametrize("cls,cfg", [(AE, AEConfig), (VAE, VAEConfig)])
def test_model_samples_from_the_fitted_prior(cls, cfg):
    model = _ae(cls, cfg)
    with pytest.raises(CheckpointError, match="no fitted prior"):
        model.sample_latent(4, prior="fitted")
    with pytest.raises(ValueError, match="prior must be"):
        model.sample_latent(4, prior="gaussian")
    codes = torch.cat([model.encode(b) for b in _batches()]).detach()
    fit = model.fit_prior(_batches())
    torch.testing.assert_close(model.prior_mean, codes.mean(0), atol=1e-5, rtol=1e-5)
    z = model.sample_latent(20_000, torch.Generator().manual_seed(0), prior="fitted")
    torch.testing.assert_close(z.mean(0), fit.mean, atol=0.05 * float(fit.scale_tril.diagonal().max()) + 1e-3, rtol=0)
    std = model.sample_latent(20_000, torch.Generator().manual_seed(0), prior="standard")
    assert abs(float(std.std()) - 1.0) < 0.02
    # truncation acts on ε, so a fitted sample stays within μ ± |L|·t
    zt = model.sample_latent(500, torch.Generator().manual_seed(0), truncation=0.5, prior="fitted")
    eps = torch.linalg.solve_triangular(fit.scale_tril, (zt - fit.mean).T, upper=False).T
    assert eps.abs().max() <= 0.5 + 1e-4
    # "auto": the AE has no prior of its own, so it uses the fit; the VAE keeps N(0, I)
    auto = model.sample_latent(8, torch.Generator().manual_seed(3), prior="auto")
    fitted = model.sample_latent(8, torch.Generator().manual_seed(3), prior="fitted")
    assert torch.equal(auto, fitted) == (cls is AE)
    assert model.sample(4, torch.Generator().manual_seed(0)).shape == (4, 3, 16, 16)


def test_prior_travels_in_checkpoints_and_old_checkpoints_still_load(tmp_path):
    model = _ae()
    model.fit_prior(_batches())
    path = save_model(tmp_path / "ae.safetensors", model)
    loaded = load_model(path)
    assert torch.equal(loaded.prior_scale_tril, model.prior_scale_tril) and int(loaded.prior_count) == 64
    g = torch.Generator
    assert torch.equal(loaded.sample(3, g().manual_seed(1)), model.sample(3, g().manual_seed(1)))
    # a checkpoint from before the fitted prior: no prior tensors; it loads and says it has no fit
    tensors = load_file(str(path))
    header = read_header(path)
    old = {k: v for k, v in tensors.items() if not k.startswith("prior_")}
    save_tensors(tmp_path / "old.safetensors", old, header)
    assert read_header(tmp_path / "old.safetensors") == header
    legacy = load_model(tmp_path / "old.safetensors")
    assert legacy.fitted_prior() is None
    with pytest.raises(CheckpointError, match="no fitted prior"):
        legacy.sample(2, prior="fitted")
    # a checkpoint missing a real weight is still refused
    broken = {k: v for k, v in old.items() if k != "encoder.features.0.0.weight"}
    save_tensors(tmp_path / "broken.safetensors", broken, header)
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(tmp_path / "broken.safetensors")
