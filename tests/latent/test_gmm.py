"""Gaussian mixture ex-post prior (Ghosh et al. 2020): EM fit, sampling, checkpoints, the model and the CLI."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from animegen.checkpoint import load_model, read_header, save_model, save_tensors
from animegen.errors import CheckpointError, ConfigError
from animegen.latent.gmm import GMMFit, component_log_prob, fit_gmm, kmeans_pp
from animegen.models import DataSpec
from animegen.models.vae import VAE, VAEConfig

MEANS = torch.tensor([[-6.0, 0.0], [6.0, 0.0], [0.0, 8.0]])
WEIGHTS = torch.tensor([0.5, 0.3, 0.2])


def three_blobs(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    k = torch.multinomial(WEIGHTS, n, replacement=True, generator=g)  # [n]
    scales = torch.tensor([[1.0, 0.3], [0.5, 1.5], [0.8, 0.8]])
    return MEANS[k] + torch.randn(n, 2, generator=g) * scales[k]  # [n, 2]


def _sorted(fit: GMMFit) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.argsort(fit.means[:, 0] * 100 + fit.means[:, 1])  # (-6, 0), (0, 8), (6, 0)
    return fit.means[order], fit.weights[order]


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_em_recovers_a_known_mixture(covariance):
    fit = fit_gmm(three_blobs(6000), 3, covariance)
    means, weights = _sorted(fit)
    torch.testing.assert_close(means, MEANS[[0, 2, 1]], atol=0.15, rtol=0)
    torch.testing.assert_close(weights, WEIGHTS[[0, 2, 1]], atol=0.03, rtol=0)
    assert torch.allclose(fit.weights.sum(), torch.tensor(1.0))
    assert torch.equal(fit.scale_tril, fit.scale_tril.tril()) and fit.count == 6000
    if covariance == "diag":
        assert torch.equal(fit.scale_tril, torch.diag_embed(fit.scale_tril.diagonal(dim1=1, dim2=2)))


def test_fit_is_reproducible_with_a_fixed_seed():
    x = three_blobs(500)
    a, b = fit_gmm(x, 4, seed=3), fit_gmm(x, 4, seed=3)
    assert torch.equal(a.means, b.means) and torch.equal(a.scale_tril, b.scale_tril)


def test_log_prob_matches_torch_distributions():
    fit = fit_gmm(three_blobs(800), 3)
    ref = MixtureSameFamily(Categorical(probs=fit.weights.double()),
                            MultivariateNormal(fit.means.double(), scale_tril=fit.scale_tril.double()))
    x = three_blobs(50, seed=9)
    torch.testing.assert_close(fit.log_prob(x).double(), ref.log_prob(x.double()), atol=1e-4, rtol=1e-5)
    single = component_log_prob(x.double(), fit.means.double(), fit.scale_tril.double())  # [50, 3]
    torch.testing.assert_close(single[:, 1], MultivariateNormal(fit.means[1].double(),
                                                                scale_tril=fit.scale_tril[1].double()).log_prob(x.double()))


def test_sampling_follows_the_weights_and_components():
    fit = fit_gmm(three_blobs(4000), 3)
    g = torch.Generator().manual_seed(0)
    s = fit.sample(torch.randn(20000, 2, generator=g), generator=g)  # [20000, 2]
    nearest = torch.cdist(s, MEANS).argmin(1)
    freq = torch.bincount(nearest, minlength=3).float() / len(s)
    torch.testing.assert_close(freq, WEIGHTS, atol=0.02, rtol=0)
    a = fit.sample(torch.zeros(5, 2), torch.Generator().manual_seed(1))
    b = fit.sample(torch.zeros(5, 2), torch.Generator().manual_seed(1))
    assert torch.equal(a, b)  # the same generator picks the same components


def test_kmeans_pp_picks_distinct_spread_out_rows():
    x = three_blobs(300)
    c = kmeans_pp(x.double(), 3, torch.Generator().manual_seed(0))
    assert len({tuple(r.tolist()) for r in c}) == 3
    assert torch.cdist(c, MEANS.double()).argmin(1).unique().numel() == 3  # one seed per blob


def test_bad_inputs_are_one_line_value_errors():
    with pytest.raises(ValueError, match="at least 5 codes") as err:
        fit_gmm(torch.randn(4, 3), 5)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="NaN"):
        fit_gmm(torch.tensor([[0.0, float("nan")], [1.0, 2.0]]), 1)
    with pytest.raises(ValueError, match="covariance"):
        fit_gmm(torch.randn(10, 2), 2, covariance="tied")  # type: ignore[arg-type]
    # dead dimensions and a tiny cluster still factorise (ridge)
    dead = torch.randn(50, 4)
    dead[:, 1] = 2.0
    assert torch.isfinite(fit_gmm(dead, 3).scale_tril).all()


def _vae(k: int = 3) -> VAE:
    torch.manual_seed(0)
    return VAE(VAEConfig(latent_dim=4, widths=(4, 8), prior_components=k), DataSpec(3, 16)).eval()


def _batches(n: int = 48):
    x = torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return [x[i:i + 16] for i in range(0, n, 16)]


def test_vae_fits_stores_and_samples_the_mixture(tmp_path):
    model = _vae()
    assert model.mixture_prior() is None
    with pytest.raises(CheckpointError, match="no fitted Gaussian mixture"):
        model.sample(2, prior="gmm")
    model.prepare_export(_batches, averaged=False)
    mix = model.mixture_prior()
    assert mix is not None and mix.count == 48 and mix.components == 3 and int(model.prior_count) == 48
    g = torch.Generator
    z = model.sample_latent(6, g().manual_seed(2), prior="gmm")  # [6, 4]
    assert z.shape == (6, 4) and not torch.allclose(z, model.sample_latent(6, g().manual_seed(2)))
    # the mixture travels in the checkpoint
    path = save_model(tmp_path / "vae.safetensors", model)
    loaded = load_model(path)
    assert torch.equal(loaded.gmm_scale_tril, model.gmm_scale_tril)
    assert torch.equal(loaded.sample(3, g().manual_seed(1), prior="gmm"),
                       model.sample(3, g().manual_seed(1), prior="gmm"))
    # a checkpoint from before the mixture existed still loads, and says it has none
    old = {k: v for k, v in load_file(str(path)).items() if not k.startswith("gmm_")}
    save_tensors(tmp_path / "old.safetensors", old, read_header(path))
    legacy = load_model(tmp_path / "old.safetensors")
    assert legacy.mixture_prior() is None and legacy.fitted_prior() is not None
    with pytest.raises(CheckpointError, match="no fitted Gaussian mixture"):
        legacy.sample(2, prior="gmm")


def test_more_components_than_codes_is_a_config_error():
    model = _vae(k=64)
    with pytest.raises(ConfigError, match="prior_components") as err:
        model.check_training_set(10)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="at least 64 codes"):
        model.prepare_export(_batches, averaged=False)
    with pytest.raises(ConfigError, match="prior_components must be >= 0"):
        VAE(VAEConfig(latent_dim=4, widths=(4, 8), prior_components=-1), DataSpec(3, 16))


def test_no_mixture_by_default_and_tiny_training_sets_still_export():
    model = VAE(VAEConfig(latent_dim=4, widths=(4, 8)), DataSpec(3, 16)).eval()
    model.check_training_set(1)  # no mixture asked for: any training split is fine
    model.prepare_export(_batches, averaged=False)
    assert model.mixture_prior() is None and model.fitted_prior() is not None
    with pytest.raises(CheckpointError, match="prior_components > 0"):
        model.sample(2, prior="gmm")
