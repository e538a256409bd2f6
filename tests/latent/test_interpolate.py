"""Latent paths: exact endpoints and via points, even spacing, slerp's norm, batched eval-mode decoding."""
import json

import pytest
import torch

from animegen.latent.decoding import decode_codes
from animegen.latent.interpolate import allocate_steps, interpolate, lerp, path_codes, segment_length, slerp
from animegen.models import MODELS, DataSpec


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return MODELS["vae"](MODELS["vae"].config_cls(latent_dim=8, widths=(8, 8, 8, 8)), DataSpec(3, 16)).eval()


@pytest.mark.parametrize("use_slerp", [False, True])
def test_endpoints_and_via_points_are_exact(use_slerp):
    torch.manual_seed(1)
    anchors = torch.randn(4, 8) * torch.tensor([[1.0], [3.0], [0.5], [2.0]])  # A, two via points, B
    z, idx = path_codes(anchors, 23, use_slerp)
    assert z.shape == (23, 8) and idx[0] == 0 and idx[-1] == 22 and len(idx) == 4
    for i, k in enumerate(idx):
        assert torch.equal(z[k], anchors[i])
    assert idx == sorted(idx) and len(set(idx)) == 4


def test_lerp_never_overshoots_and_steps_are_even_across_segments():
    a, v, b = torch.zeros(3), torch.tensor([1.0, 0, 0]), torch.tensor([1.0, 3.0, 0])  # segments of length 1 and 3
    z, idx = path_codes(torch.stack([a, v, b]), 9)
    assert idx == [0, 2, 8]  # 8 steps split 2 : 6 by length
    step = (z[1:] - z[:-1]).norm(dim=1)
    torch.testing.assert_close(step, torch.full((8,), 0.5))
    assert (z[:, 0] >= 0).all() and (z[:, 0] <= 1).all() and (z[:, 1] >= 0).all() and (z[:, 1] <= 3).all()


def test_slerp_keeps_the_norm_where_lerp_dips():
    a, b = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 3.0, 0.0])
    t = torch.linspace(0, 1, 11)
    torch.testing.assert_close(slerp(a, b, t).norm(dim=1), torch.full((11,), 3.0))
    assert lerp(a, b, t).norm(dim=1)[5] < 2.2  # 3/√2 in the middle of the chord
    # unequal norms: the norm moves linearly from |a| to |b|
    c = torch.tensor([0.0, 0.0, 5.0])
    torch.testing.assert_close(slerp(a, c, t).norm(dim=1), 3 + 2 * t)
    assert segment_length(a, b, True) == pytest.approx(3 * torch.pi / 2, rel=1e-4)  # a quarter circle
    assert segment_length(a, b, False) == pytest.approx(3 * 2 ** 0.5, rel=1e-6)


def test_slerp_falls_back_to_lerp_where_direction_is_undefined():
    a, t = torch.tensor([1.0, 0.0]), torch.linspace(0, 1, 5)
    torch.testing.assert_close(slerp(a, -a, t), lerp(a, -a, t))  # antipodal
    torch.testing.assert_close(slerp(torch.zeros(2), a, t), lerp(torch.zeros(2), a, t))  # zero code


def test_allocate_steps():
    assert allocate_steps([1.0, 1.0, 2.0], 8) == [2, 2, 4]
    assert allocate_steps([0.0, 0.0], 5) in ([3, 2], [2, 3])
    assert allocate_steps([100.0, 1e-6], 3) == [2, 1]  # every segment gets at least one step
    with pytest.raises(ValueError):
        allocate_steps([1.0, 1.0, 1.0], 2)


def test_too_few_steps_for_the_anchors():
    with pytest.raises(ValueError, match="at least 3"):
        path_codes(torch.randn(3, 4), 2)


def test_interpolate_decodes_the_path_and_measures_it(vae):
    anchors = torch.randn(2, 8)
    vae.train()  # decoding must still use eval mode, then put the model back
    path = interpolate(vae, anchors, 7)
    assert vae.training
    vae.eval()
    assert path.frames.shape == (7, 3, 16, 16) and path.frames.abs().max() <= 1
    torch.testing.assert_close(path.frames[0], decode_codes(vae, anchors[:1])[0])  # A's reconstruction
    torch.testing.assert_close(path.frames[-1], decode_codes(vae, anchors[1:])[0])
    nums = json.loads(json.dumps(path.numbers()))
    assert nums["frames"] == 7 and len(nums["step_distance"]) == 6 and len(nums["frame_change"]) == 6
    assert nums["path_length"] == pytest.approx(float((anchors[1] - anchors[0]).norm()), rel=1e-4)
    assert nums["max_frame_change"] >= nums["mean_frame_change"] > 0


def test_decode_batches_match_one_batch(vae):
    z = torch.randn(10, 8)
    torch.testing.assert_close(decode_codes(vae, z, batch_size=3), decode_codes(vae, z, batch_size=64))
    with pytest.raises(ValueError):
        decode_codes(vae, torch.randn(2, 5))
