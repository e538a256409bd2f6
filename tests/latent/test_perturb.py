"""Perturbations: every mode's grid shape, ε = 0 changes nothing, axes are the right ones, directions files."""
import json

import pytest
import torch

from animegen.latent.codes import load_codes, save_codes
from animegen.latent.perturb import (
    SWEEP,
    PerturbError,
    dataset_codes,
    ganspace_axes,
    parse_mode,
    pca_axes,
    perturb,
    top_dims,
)
from animegen.models import MODELS, DataSpec

S = len(SWEEP)


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return MODELS["vae"](MODELS["vae"].config_cls(latent_dim=6, widths=(8, 8, 8, 8)), DataSpec(3, 16)).eval()


@pytest.fixture(scope="module")
def gan():
    torch.manual_seed(0)
    cfg = MODELS["dcgan"].config_cls(g_width=4, d_width=4, latent_dim=6)
    return MODELS["dcgan"](cfg, DataSpec(3, 16)).eval()


@pytest.fixture
def directions(tmp_path):
    rows = torch.nn.functional.normalize(torch.randn(3, 6), dim=1)
    path = save_codes(tmp_path / "directions.safetensors", rows, ["hair_hue", "mouth=smile", "eyes"])
    z, labels, _ = load_codes(path)
    return z, labels


def _modes(directions):
    data = torch.randn(40, 6)
    return [("random", {}, 1 + 3), ("dims", {}, 3 * S), ("dims", {"data_codes": data}, 3 * S),
            ("pca", {"data_codes": data}, 3 * S), ("direction:eyes", {"directions": directions}, S),
            ("direction", {"directions": directions}, 3 * S)]


def test_each_mode_shape_and_eps_zero_is_identity(vae, directions):
    z0 = torch.randn(6)
    for mode, kw, frames in _modes(directions):
        r = perturb(vae, z0, mode, 0.8, 3, **kw)
        assert r.frames.shape == (frames, 3, 16, 16), mode
        assert r.z.shape == (frames, 6)
        json.dumps(r.numbers())
        assert r.numbers()["max_pixel_change"] > 0, mode
        still = perturb(vae, z0, mode, 0.0, 3, **kw)
        assert (still.z == z0).all(), f"{mode}: eps=0 must leave every code the same"
        # the same code decodes to the same image (up to float rounding that depends on its place in the batch)
        torch.testing.assert_close(still.frames, still.frames[:1].expand_as(still.frames), atol=1e-5, rtol=0)
        assert still.numbers()["max_pixel_change"] < 1e-3


def test_random_is_seeded_and_sized(vae):
    z0 = torch.zeros(6)
    a, b, c = (perturb(vae, z0, "random", 0.5, 200, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.z, b.z) and not torch.equal(a.z, c.z)
    dist = (a.z[1:] - z0).norm(dim=1)
    assert float(dist.mean()) == pytest.approx(0.5 * 6 ** 0.5, rel=0.15)  # ε·‖N(0, I₆)‖ ≈ ε·√6


def test_sweeps_move_along_the_axis_only(vae, directions):
    z0 = torch.randn(6)
    r = perturb(vae, z0, "direction:mouth=smile", 2.0, 1, directions=directions)
    d = directions[0][1]
    steps = r.z - z0
    torch.testing.assert_close(steps, torch.tensor(SWEEP)[:, None] * 2.0 * d[None])
    assert r.row_labels == ["mouth=smile"] and r.col_labels[S // 2] == "z"


def test_dims_picks_the_most_active_dimensions():
    data = torch.randn(100, 6) * torch.tensor([0.1, 0.1, 5.0, 0.1, 2.0, 0.1])
    axes, labels, notes = top_dims(2, 6, data)
    assert axes.argmax(dim=1).tolist() == [2, 4] and not notes
    axes, labels, notes = top_dims(9, 6)
    assert axes.shape == (6, 6) and any("first" in n for n in notes) and any("6 dimensions" in n for n in notes)


def test_pca_finds_the_spread_axis():
    g = torch.Generator().manual_seed(0)
    u = torch.nn.functional.normalize(torch.tensor([1.0, 2.0, 0.0, -1.0, 0.0, 0.5]), dim=0)
    codes = torch.randn(500, 1, generator=g) * 3.0 * u + 0.1 * torch.randn(500, 6, generator=g)
    axes, sd = pca_axes(codes, 2)
    assert abs(float(axes[0] @ u)) > 0.99 and float(sd[0]) == pytest.approx(3.0, rel=0.15) and sd[1] < 0.2
    with pytest.raises(PerturbError, match="at least 2"):
        pca_axes(torch.randn(1, 6), 2)


def test_pca_on_a_gan_uses_ganspace(gan):
    axes, sd = ganspace_axes(gan, 3, samples=256)
    assert axes.shape == (3, 6) and torch.allclose(axes.norm(dim=1), torch.ones(3)) and (sd > 0).all()
    again, _ = ganspace_axes(gan, 3, samples=256)
    torch.testing.assert_close(axes, again)  # seeded, whatever the global RNG
    r = perturb(gan, torch.randn(6), "pca", 1.0, 3)
    assert r.frames.shape == (3 * S, 3, 16, 16) and any("GANSpace" in n for n in r.notes)


def test_pca_on_an_encoder_model_needs_data(vae):
    with pytest.raises(PerturbError, match="--data"):
        perturb(vae, torch.randn(6), "pca", 1.0, 2)


def test_direction_errors(vae, directions):
    with pytest.raises(PerturbError, match="unknown direction 'nose'.*hair_hue, mouth=smile, eyes"):
        perturb(vae, torch.randn(6), "direction:nose", 1.0, 1, directions=directions)
    with pytest.raises(PerturbError, match="--directions"):
        perturb(vae, torch.randn(6), "direction:eyes", 1.0, 1)
    with pytest.raises(PerturbError, match="another model"):
        perturb(vae, torch.randn(6), "direction", 1.0, 1, directions=(torch.randn(2, 5), ["a", "b"]))


def test_parse_mode():
    assert parse_mode("direction:a, b") == ("direction", ["a", "b"])
    assert parse_mode("dims") == ("dims", [])
    for bad in ("wiggle", "pca:x", ""):
        with pytest.raises(PerturbError, match="choose random"):
            parse_mode(bad)


def test_dataset_codes(vae, gan):
    codes, notes = dataset_codes(vae, "synth:12", limit=5)
    assert codes.shape == (5, 6) and notes and "5 of its 12" in notes[0]
    with pytest.raises(PerturbError, match="no encoder"):
        dataset_codes(gan, "synth:12")
