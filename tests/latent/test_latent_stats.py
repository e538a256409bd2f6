"""Latent statistics: spread, active units and KL on constructed cases, augmentations, the full report."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from animegen.data.sources import open_source
from animegen.latent.stats import (
    NoEncoder,
    augment,
    code_stats,
    comparison_table,
    kl_per_dim,
    latent_stats,
    other_expression,
    pca_2d,
    posterior_stats,
)
from animegen.models import MODELS, DataSpec


def test_code_stats_on_constructed_codes():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4000, 4, generator=g) * torch.tensor([2.0, 1.0, 0.05, 0.0]) + torch.tensor([3.0, 0, 0, 4.0])
    s = code_stats(z)
    assert s["active_units"] == 2  # variances 4, 1 > 0.01; 0.0025 and 0 are not
    assert abs(s["mean_std"] - (2 + 1 + 0.05) / 4) < 0.03
    assert abs(s["mean_norm"] - float(z.norm(dim=1).mean())) < 1e-6 and s["mean_norm"] > 5
    assert len(s["per_dim"]["std"]) == 4 and abs(s["per_dim"]["mean"][0] - 3) < 0.1


def test_kl_per_dim_closed_form():
    mu = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.0, np.log(0.25)], [0.0, 0.0, np.log(0.25)]]).float()
    kl = kl_per_dim(mu, logvar)
    expect = torch.tensor([0.0, 0.5, 0.5 * (0.25 - np.log(0.25) - 1)], dtype=torch.float64)
    torch.testing.assert_close(kl, expect)


def test_posterior_stats_use_model_posterior():
    model = torch.nn.Linear(1, 1)
    model.posterior = lambda x: (x.flatten(1)[:, :2] * 0 + torch.tensor([1.0, 0.0]),
                                 torch.zeros(len(x), 2))  # μ = (1, 0), σ = 1
    s = posterior_stats(model, torch.zeros(10, 1, 2, 2))
    assert s["kl_per_dim"] == pytest.approx([0.5, 0.0]) and s["mean_posterior_std"] == pytest.approx(1.0)
    assert s["dims_with_kl_above_0.01"] == 1


def test_augment_is_small_and_changes_every_image():
    from animegen.imaging import to_tensor

    x = to_tensor(open_source("synth:6", size=64).images)  # [6, 3, 64, 64]
    a = augment(x, seed=1)
    assert a.shape == x.shape and a.min() >= -1 and a.max() <= 1
    diff = (a - x).abs().flatten(1).mean(1)
    between = (x - x.roll(1, 0)).abs().flatten(1).mean(1)  # another image
    assert (diff > 0.01).all() and (diff < 0.5 * between).all()
    torch.testing.assert_close(augment(x, seed=1), a)


def test_other_expression_keeps_identity():
    ds = open_source("synth:6", size=32)
    other = other_expression(ds, np.arange(6))
    d = np.abs(other.astype(int) - ds.images.astype(int)).mean((1, 2, 3))
    assert (d > 0).all() and (d < 20).all()  # mouth and eyes changed; hair, background and pose did not
    assert other_expression(SimpleNamespace(name="faces", labels=None), np.arange(2)) is None


@pytest.fixture(scope="module")
def tiny_vae():
    torch.manual_seed(0)
    return MODELS["vae"](MODELS["vae"].config_cls(latent_dim=6, widths=(8, 8, 8, 8)), DataSpec(3, 32)).eval()


def test_latent_stats_report(tiny_vae):
    ds = open_source("synth:40", size=32)
    s = latent_stats(tiny_vae, ds, n=30, pairs=10, keep_codes=True)
    assert s["codes"].shape == (30, 6) and len(s["index"]) == 30 and s["latent_dim"] == 6
    assert set(s["distances"]) == {"same_face_augmented", "same_identity_other_expression", "different_faces"}
    assert s["distances_relative"]["different_faces"]["median"] == pytest.approx(1.0)
    assert len(s["kl"]["kl_per_dim"]) == 6
    table = comparison_table([s, s], ["A", "B"])
    assert table[0]["quantity"] == "mean std" and table[0]["A"] == s["mean_std"]
    xy, ratio = pca_2d(s["codes"])
    assert xy.shape == (30, 2) and 0 < sum(ratio) <= 1 + 1e-9


def test_gan_has_no_codes_to_measure():
    gan = MODELS["dcgan"](MODELS["dcgan"].config_cls(), DataSpec(3, 64)).eval()
    with pytest.raises(NoEncoder, match="encoder"):
        latent_stats(gan, open_source("synth:4"), n=4)
