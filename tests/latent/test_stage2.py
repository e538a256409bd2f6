"""The second-stage VAE prior (Dai & Wipf 2019): it learns where codes are, round-trips through buffers."""
import pytest
import torch

from animegen.latent.stage2 import Stage2VAE, fit_stage2, stage2_nll


def two_clusters(n=600, d=4, seed=0):
    """Codes in two tight clusters at ±(3, 3, ..., 3): far from N(0, I), which puts most mass between them."""
    g = torch.Generator().manual_seed(seed)
    side = torch.randint(0, 2, (n,), generator=g).float() * 2 - 1  # [n] ±1
    z = 0.3 * torch.randn(n, d, generator=g)
    z += 3 * side[:, None]
    return z


def test_stage2_samples_land_in_the_clusters_and_n01_does_not():
    z = two_clusters(400)
    s2 = fit_stage2(z, hidden=32, steps=600, batch_size=128, lr=3e-3)
    samples = s2.sample(torch.randn(2000, 4, generator=torch.Generator().manual_seed(1)))  # [2000, 4]
    near = ((samples[:, 0].abs() - 3).abs() < 1.0).float().mean()
    plain = ((torch.randn(2000, 4)[:, 0].abs() - 3).abs() < 1.0).float().mean()  # N(0, I) itself
    assert near > 0.6 and plain < 0.2
    both = (samples[:, 0] > 0).float().mean()
    assert 0.25 < both < 0.75  # both clusters, not one
    assert stage2_nll(s2, z) < stage2_nll(s2, torch.randn(400, 4))


def test_state_round_trip_gives_the_same_codes_and_fitting_is_seeded():
    z = two_clusters(200)
    a = fit_stage2(z, hidden=16, steps=50, seed=3)
    b = Stage2VAE.from_state(4, 16, a.state())
    eps = torch.randn(8, 4)
    assert torch.equal(a.sample(eps), b.sample(eps))
    assert all("." not in k for k in a.state())
    c = fit_stage2(z, hidden=16, steps=50, seed=3)
    assert torch.equal(a.sample(eps), c.sample(eps))


@pytest.mark.parametrize("codes", [torch.zeros(1, 4), torch.zeros(4), torch.full((5, 4), float("nan"))])
def test_unusable_codes_are_refused(codes):
    with pytest.raises(ValueError, match="second-stage VAE"):
        fit_stage2(codes, hidden=8, steps=2)
