"""Blending: weights are validated and normalised, the mix is Σ wᵢ zᵢ, the --grid row runs from A to B."""
import pytest
import torch

from animegen.latent.blend import WeightError, blend, blend_codes, blend_row, normalise_weights, parse_weights
from animegen.latent.decoding import decode_codes
from animegen.models import MODELS, DataSpec


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return MODELS["vae"](MODELS["vae"].config_cls(latent_dim=6, widths=(8, 8, 8, 8)), DataSpec(3, 16)).eval()


def test_weights_summing_to_one_pass_unchanged():
    w, notes = normalise_weights([0.3, 0.7], 2)
    torch.testing.assert_close(w, torch.tensor([0.3, 0.7]))
    assert notes == []


def test_weights_are_normalised_with_a_note():
    w, notes = normalise_weights([1, 1, 2], 3)
    torch.testing.assert_close(w, torch.tensor([0.25, 0.25, 0.5]))
    assert len(notes) == 1 and "normalised" in notes[0] and "sum to 4" in notes[0]


@pytest.mark.parametrize("weights,count,match", [([-0.5, 1.5], 2, "negative"), ([0.5], 2, "1 weight"),
                                                 ([0.2, 0.3, 0.5], 2, "3 weight"), ([0, 0], 2, "sum to 0"),
                                                 ([float("nan"), 1], 2, "finite")])
def test_bad_weights_are_rejected(weights, count, match):
    with pytest.raises(WeightError, match=match):
        normalise_weights(weights, count)


def test_parse_weights():
    assert parse_weights("0.3, 0.7") == [0.3, 0.7]
    with pytest.raises(WeightError, match="comma-separated"):
        parse_weights("a,b")


def test_blend_is_the_weighted_mix(vae):
    z = torch.randn(3, 6)
    torch.testing.assert_close(blend_codes(z, torch.tensor([0.2, 0.3, 0.5])), 0.2 * z[0] + 0.3 * z[1] + 0.5 * z[2])
    result = blend(vae, z, [2, 2, 6])
    torch.testing.assert_close(result.z, 0.2 * z[0] + 0.2 * z[1] + 0.6 * z[2])
    assert result.image.shape == (1, 3, 16, 16) and result.inputs.shape == (3, 3, 16, 16) and result.notes
    torch.testing.assert_close(result.inputs, decode_codes(vae, z))
    only_b = blend(vae, z, [0, 1, 0])
    torch.testing.assert_close(only_b.image[0], result.inputs[1])  # all weight on one input: its reconstruction
    nums = only_b.numbers(z)
    assert nums["code_distance_to_inputs"][1] == 0 and nums["pixel_change_from_inputs"][1] < 1e-3


def test_grid_row_runs_from_a_to_b(vae):
    z = torch.randn(2, 6)
    row, weights = blend_row(vae, z, 5)
    assert row.shape == (5, 3, 16, 16) and weights == [0.0, 0.25, 0.5, 0.75, 1.0]
    ends = decode_codes(vae, z)
    torch.testing.assert_close(row[0], ends[0])
    torch.testing.assert_close(row[-1], ends[1])
    result = blend(vae, z, [0.5, 0.5], grid=4)
    assert result.row is not None and len(result.numbers(z)["grid_frame_change"]) == 3
    with pytest.raises(WeightError, match="exactly two"):
        blend_row(vae, torch.randn(3, 6), 4)
