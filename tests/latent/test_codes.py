"""Code specs: images, seeds, dataset rows and codes files resolve to the model's latent codes."""
import numpy as np
import pytest
import torch

from animegen.errors import AnimegenError, CheckpointError
from animegen.imaging import save_png
from animegen.latent.codes import NeedsInversion, load_codes, resolve_codes, save_codes
from animegen.models import MODELS, DataSpec


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return MODELS["vae"](MODELS["vae"].config_cls(latent_dim=8, widths=(8, 8, 8, 8)), DataSpec(3, 32)).eval()


def test_image_seed_and_dataset_row(vae, tmp_path):
    save_png(np.random.default_rng(0).integers(0, 255, (50, 40, 3), dtype=np.uint8), tmp_path / "a.png")
    c = resolve_codes(vae, [str(tmp_path / "a.png"), "seed:3", "data:synth:6#4", "synth:6#4"])
    assert c.z.shape == (4, 8) and c.labels[1] == "seed:3"
    assert any("resized" in n for n in c.notes)
    torch.testing.assert_close(c.z[2], c.z[3])  # data: prefix is optional for built-in schemes
    assert torch.isnan(c.images[1]).all() and torch.isfinite(c.images[0]).all()
    again = resolve_codes(vae, ["seed:3"]).z[0]
    torch.testing.assert_close(again, c.z[1])  # same seed, same code


def test_codes_file_round_trip(vae, tmp_path):
    z = torch.randn(3, 8)
    save_codes(tmp_path / "c.safetensors", z, ["a", "b", "c"])
    c = resolve_codes(vae, [f"codes:{tmp_path / 'c.safetensors'}#2", f"codes:{tmp_path / 'c.safetensors'}"])
    torch.testing.assert_close(c.z, z[[2, 0]])
    assert c.labels == ["c", "a"]
    with pytest.raises(AnimegenError, match="out of range"):
        resolve_codes(vae, [f"codes:{tmp_path / 'c.safetensors'}#3"])
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError):
        load_codes(tmp_path / "junk.safetensors")


@pytest.mark.parametrize("spec,match", [("nothere.png", "no such image"), ("data:synth:5#9", "out of range"),
                                        ("data:synth:5", "#INDEX"), ("data:synth:5#x", "integer"),
                                        ("seed:x", "integer"), ("data:synth:5#-1", ">= 0")])
def test_bad_specs_are_one_line_errors(vae, spec, match):
    with pytest.raises(AnimegenError, match=match):
        resolve_codes(vae, [spec])


def test_gan_needs_inversion_unless_given_an_inverter(tmp_path):
    gan = MODELS["dcgan"](MODELS["dcgan"].config_cls(), DataSpec(3, 64)).eval()
    save_png(np.zeros((64, 64, 3), dtype=np.uint8), tmp_path / "a.png")
    with pytest.raises(NeedsInversion, match="invert"):
        resolve_codes(gan, [str(tmp_path / "a.png")])
    c = resolve_codes(gan, [str(tmp_path / "a.png"), "seed:1"], invert=lambda m, x: torch.ones(len(x), m.latent_dim))
    assert c.z.shape == (2, gan.latent_dim) and (c.z[0] == 1).all()
