"""GAN inversion: recovers a generation far better than a random code, keeps the best restart, AE/VAE path."""
import numpy as np
import pytest
import torch
from latent_models import tiny

from animegen.errors import AnimegenError
from animegen.latent.invert import InvertConfig, activations, feature_network, invert, random_code_distances


def _targets(model, k=3, seed=1):
    z = model.sample_latent(k, generator=torch.Generator().manual_seed(seed), prior="auto")
    with torch.no_grad():
        return model.decode(z).clamp(-1, 1)  # [k, C, H, W]


@pytest.mark.parametrize("family", ["dcgan", "wgan-gp"])
def test_inverting_a_generation_beats_a_random_code(family):
    model = tiny(family)
    x = _targets(model)
    res = invert(model, x, steps=80, restarts=2)
    rand_pix, rand_feat = random_code_distances(model, x, seed=5)
    assert res.pixel_mse.mean() < 0.1 * rand_pix.mean()
    assert res.feature_distance.mean() < 0.5 * rand_feat.mean()
    assert not model.training and all(p.requires_grad for p in model.parameters())  # model left as found


def test_shapes_and_settings():
    model = tiny("dcgan", latent=12)
    res = invert(model, _targets(model, k=2), steps=3, restarts=3)
    assert res.z.shape == (2, 12) and res.generated.shape == (2, 3, 16, 16)
    assert res.pixel_mse.shape == res.feature_distance.shape == res.loss.shape == (2,)
    assert res.restart_losses.shape == (3, 2)
    assert res.settings["steps"] == 3 and res.settings["features"] == "discriminator activations"
    assert len(activations(feature_network(model), _targets(model, k=1))) == 2  # D's LeakyReLUs at 8 and 4 px


def test_restarts_keep_the_best():
    model = tiny("dcgan")
    x = _targets(model, k=4, seed=3)
    many = invert(model, x, steps=15, restarts=5, seed=2)
    np.testing.assert_allclose(many.loss, many.restart_losses.min(0), rtol=1e-6)
    np.testing.assert_array_equal(many.best_restart, many.restart_losses.argmin(0))
    one = invert(model, x, steps=15, restarts=1, seed=2)  # the same first start (same seed): never better
    assert (many.loss <= one.loss + 1e-5).all()
    assert (many.best_restart != 0).any()  # the extra restarts were used for some image


@pytest.mark.parametrize("family", ["ae", "vae"])
def test_encoder_models_start_at_their_code_and_improve(family):
    model = tiny(family)
    x = _targets(model)
    if family == "ae":
        model.fit_prior([_targets(model, k=64, seed=9)])  # z = μ + L ε: the start must still be the encoder's code
    start = invert(model, x, steps=1, restarts=1, lr=1e-7, prior_weight=0.0)
    torch.testing.assert_close(start.z, model.encode(x), atol=1e-3, rtol=1e-3)
    better = invert(model, x, steps=60, restarts=2, prior_weight=0.0)
    assert better.loss.mean() < start.loss.mean()
    assert better.settings["encoder_init"] and better.settings["features"] == "encoder blocks"


def test_bad_input_is_a_one_line_error():
    model = tiny("dcgan")
    with pytest.raises(AnimegenError, match="images must be"):
        invert(model, torch.zeros(2, 3, 32, 32))
    with pytest.raises(AnimegenError, match="no images"):
        invert(model, torch.zeros(0, 3, 16, 16))
    for bad in (dict(steps=0), dict(restarts=0), dict(pixel_weight=0, feature_weight=0), dict(prior_weight=-1)):
        with pytest.raises(AnimegenError):
            InvertConfig(**bad).validate()


def test_resolve_codes_inverts_gan_images_with_the_defaults(tmp_path):
    from animegen.imaging import save_png, to_uint8
    from animegen.latent.codes import resolve_codes

    model = tiny("dcgan")
    x = _targets(model, k=1, seed=4)
    save_png(to_uint8(x)[0], tmp_path / "face.png")
    codes = resolve_codes(model, [str(tmp_path / "face.png"), "seed:2"], invert=True)
    assert codes.z.shape == (2, 16) and any("inverted" in n for n in codes.notes)
    with torch.no_grad():
        err = (model.decode(codes.z[:1]).clamp(-1, 1) - x).pow(2).mean()
        rand = (model.decode(codes.z[1:]).clamp(-1, 1) - x).pow(2).mean()
    assert err < 0.2 * rand
