"""The contract every registered model family passes, with a tiny config (diffusers-style).

Parametrised over ``MODELS`` (every family, and each family's architecture variants) and over image
sizes 28 (grayscale, MNIST), 64 and 128 px.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
import torch

import animegen
from animegen.checkpoint import save_model
from animegen.config import from_dict, to_dict
from animegen.models import MODELS, DataSpec, SimpleContext

# tiny settings per family and architecture variant (every registered family must appear here)
TINY: dict[str, list[dict]] = {
    "ae": [dict(arch="conv", widths=(4, 8, 8, 16), latent_dim=8),
           dict(arch="mlp", hidden=16, latent_dim=4, loss="bce")],
    "vae": [dict(arch="conv", widths=(4, 8, 8, 16), latent_dim=8, learn_obs_std=True, kl_warmup_steps=10),
            dict(arch="mlp", hidden=16, latent_dim=4, likelihood="bernoulli")],
    "vaegan": [dict(widths=(4, 8, 8, 16), latent_dim=8, d_width=4, prior_components=2, input_noise=0.1)],
    "dcgan": [dict(arch="fast", g_width=4, d_width=4, latent_dim=8, r1_gamma=1.0, d_norm="spectral", loss="hinge",
                   d_mbstd_group=2, diffaug="color,translation,cutout", g_norm="pixel"),
              dict(arch="fast", g_width=4, d_width=4, latent_dim=8),
              dict(arch="seed002", g_width=4, d_width=4, latent_dim=8),
              dict(arch="examples", g_width=4, d_width=4, latent_dim=8, loss="hinge")],
    "wgan": [dict(arch="seed002", g_width=4, d_width=4, latent_dim=8, n_critic=2)],
    "wgan-gp": [dict(arch="examples", g_width=4, d_width=4, latent_dim=8, n_critic=2)],
}
SPECS = [DataSpec(1, 28), DataSpec(3, 64), DataSpec(3, 128)]
# every variant at 28 (gray) and 64 px; 128 px (one more up/down block) for each family's first variant
CASES = [pytest.param((fam, kw, spec), id=f"{fam}-{kw.get('arch', '')}-{spec.channels}x{spec.size}")
         for fam in sorted(MODELS) for i, kw in enumerate(TINY.get(fam, [{}])) for spec in SPECS
         if spec.size != 128 or i == 0]
SMALL_CASES = [c for c in CASES if c.values[0][2].size != 128]  # determinism / bf16: 28 and 64 px suffice
BATCH = 3


class BF16Context(SimpleContext):
    def autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16)


def build(family: str, kw: dict, spec: DataSpec, seed: int = 0):
    torch.manual_seed(seed)
    cls = MODELS[family]
    return cls(cls.config_cls(**kw), spec)


def make_batch(model, spec: DataSpec, seed: int = 1) -> torch.Tensor:
    k = getattr(model, "batches_per_step", 1)
    g = torch.Generator().manual_seed(seed)
    return torch.rand(BATCH * k, *spec.shape, generator=g) * 2 - 1  # [k*B, C, H, W] in [-1, 1]


def step(model, spec, ctx_cls=SimpleContext, seed: int = 2, memory_format=torch.contiguous_format):
    ctx = ctx_cls(model.make_optimizers())
    batch = make_batch(model, spec).contiguous(memory_format=memory_format)
    torch.manual_seed(seed)
    return model.train_step(batch, ctx)


def test_every_family_has_a_tiny_config():
    assert set(MODELS) <= set(TINY), f"add tiny settings for {set(MODELS) - set(TINY)} to TINY"
    for family, cls in MODELS.items():
        assert cls.family == family
        assert dataclasses.is_dataclass(cls.config_cls)


@dataclass
class Case:
    family: str
    kw: dict
    spec: DataSpec
    model: object = None
    before: dict = None
    out: dict = None


@pytest.fixture(scope="module", params=CASES)
def case(request) -> Case:
    """One model per case, after one train step; pytest groups each case's tests together."""
    family, kw, spec = request.param
    model = build(family, kw, spec)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    out = step(model, spec)
    return Case(family, kw, spec, model, before, out)


def test_step_is_finite_and_updates_parameters(case):
    model, before, out = case.model, case.before, case.out
    assert out, "train_step must return scalars to log"
    for key, value in out.items():
        assert isinstance(value, torch.Tensor) and value.dim() == 0, key
        assert not value.requires_grad, f"{key} must be detached"
        assert torch.isfinite(value), f"{key} = {value}"
    changed = {k for k, v in model.named_parameters() if not torch.equal(v, before[k])}
    assert changed, "no parameter changed after a step"
    for sub in ("generator", "discriminator", "encoder", "decoder"):
        if hasattr(model, sub):
            names = [f"{sub}.{n}" for n, _ in getattr(model, sub).named_parameters()]
            assert any(n in changed for n in names), f"{sub} did not change"
    if model.is_adversarial:
        assert {"loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"} <= set(out)
    else:
        assert {"loss", "recon_per_image", "recon_per_pixel"} <= set(out)


def test_decode_sample_shapes_and_range(case):
    model, spec = case.model, case.spec
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, *spec.shape)
    assert x.min() >= -1 and x.max() <= 1 and torch.isfinite(x).all()
    z = model.sample_latent(2)
    assert z.shape == (2, model.latent_dim)
    model.eval()
    with torch.no_grad():
        y = model.decode(z)
    assert y.shape == (2, *spec.shape) and y.min() >= -1 and y.max() <= 1
    assert model.sample(4, truncation=0.5).shape == (4, *spec.shape)
    if model.has_encoder:
        with torch.no_grad():
            codes = model.encode(make_batch(model, spec)[:2])
            assert codes.shape == (2, model.latent_dim)
            assert model.reconstruct(make_batch(model, spec)[:2]).shape == (2, *spec.shape)
    ev = model.eval_step(make_batch(model, spec))
    assert isinstance(ev, dict)
    for key, value in ev.items():
        assert value.dim() == 0 and torch.isfinite(value), key


def test_save_load_round_trip_is_bit_exact(case, tmp_path):
    model, spec = case.model, case.spec
    model.eval()
    path = save_model(tmp_path / "m.safetensors", model, step=1)
    loaded = animegen.load(path)
    assert type(loaded) is type(model) and loaded.spec == model.spec
    assert to_dict(loaded.config) == to_dict(model.config)
    assert not loaded.training
    z = model.sample_latent(3, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.equal(model.decode(z), loaded.decode(z))
        if model.has_encoder:
            x = make_batch(model, spec)
            assert torch.equal(model.encode(x), loaded.encode(x))
    sd, sd2 = model.state_dict(), loaded.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    # the stored config is concrete and rebuilds strictly
    assert to_dict(from_dict(type(model.config), to_dict(model.config))) == to_dict(model.config)


@pytest.mark.parametrize("params", SMALL_CASES)
def test_same_seed_same_step(params):
    family, kw, spec = params
    a, b = build(family, kw, spec, seed=3), build(family, kw, spec, seed=3)
    out_a, out_b = step(a, spec, seed=4), step(b, spec, seed=4)
    assert out_a.keys() == out_b.keys()
    for k in out_a:
        assert torch.equal(out_a[k], out_b[k]), k
    for (n, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items(), strict=False):
        assert torch.equal(p, q), n


@pytest.mark.parametrize("params", SMALL_CASES)
def test_channels_last_bf16_step(params):
    family, kw, spec = params
    model = build(family, kw, spec).to(memory_format=torch.channels_last)
    out = step(model, spec, ctx_cls=BF16Context, memory_format=torch.channels_last)
    for key, value in out.items():
        assert torch.isfinite(value), f"{key} = {value}"
    with BF16Context({}).autocast():
        x = model.sample(2)
    assert x.dtype == torch.float32 and x.shape == (2, *spec.shape)


def test_config_defaults_are_complete():
    """Every family builds from its default config at 64 px (the recipes' starting point)."""
    for cls in MODELS.values():
        model = cls(cls.config_cls(), DataSpec(3, 64))
        assert model.latent_dim > 0
        assert set(model.make_optimizers()) in ({"ae"}, {"g", "d"}, {"enc", "dec", "d"})
