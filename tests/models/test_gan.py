"""GAN families: exact layer layouts, losses, gradient penalty, clipping, DiffAugment, presets."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from animegen.errors import ConfigError
from animegen.models import DataSpec, SimpleContext, losses
from animegen.models.blocks import MinibatchStd, Reshape
from animegen.models.dcgan import DCGAN, PRESETS, DCGANConfig
from animegen.models.diffaug import diff_augment, parse_policy
from animegen.models.wgan import WGAN, WGANGP, WGANConfig, WGANGPConfig


def _trace(module: nn.Module, x: torch.Tensor, kinds) -> list[tuple[int, ...]]:
    """Output shapes of every submodule of the given kinds, in call order."""
    shapes: list[tuple[int, ...]] = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: shapes.append(tuple(o.shape)))
             for m in module.modules() if isinstance(m, kinds)]
    with torch.no_grad():
        module.eval()(x)
    for h in hooks:
        h.remove()
    return shapes


def test_seed002_layout_is_exact():
    model = DCGAN(DCGANConfig(arch="seed002"), DataSpec(3, 64))
    G, D = model.generator, model.discriminator
    lin = G[0]
    assert isinstance(lin, nn.Linear) and lin.bias is None and lin.out_features == 64 * 8 * 4 * 4
    assert isinstance(G[1], nn.BatchNorm1d) and isinstance(G[2], nn.ReLU)
    convts = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(convts) == 4
    for m in convts:
        assert (m.kernel_size, m.stride, m.padding, m.output_padding, m.bias) == ((5, 5), (2, 2), (2, 2), (1, 1), None)
    assert isinstance(G[-1], nn.Tanh)
    z = torch.randn(2, 100)
    assert _trace(G, z, (nn.ConvTranspose2d,)) == [(2, 256, 8, 8), (2, 128, 16, 16), (2, 64, 32, 32), (2, 3, 64, 64)]
    assert _trace(G, z, (nn.Linear,)) == [(2, 8192)]
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding) for m in convs] == [
        (3, 64, (4, 4), (2, 2), (1, 1)), (64, 128, (4, 4), (2, 2), (1, 1)), (128, 256, (4, 4), (2, 2), (1, 1)),
        (256, 512, (4, 4), (2, 2), (1, 1)), (512, 1, (4, 4), (1, 1), (0, 0))]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 3
    assert not any(isinstance(m, nn.Sigmoid) for m in D.modules())  # folded into BCE-with-logits
    x = torch.randn(2, 3, 64, 64)
    assert _trace(D, x, (nn.Conv2d,)) == [
        (2, 64, 32, 32),
        (2, 128, 16, 16),
        (2, 256, 8, 8),
        (2, 512, 4, 4),
        (2, 1, 1, 1),
    ]
    assert D(x).shape == (2,)
    # generator input [B,512,4,4] after the reshape
    assert _trace(G, z, (nn.BatchNorm2d,))[0] == (2, 256, 8, 8)


def test_examples_layout_matches_pytorch_examples():
    model = DCGAN(DCGANConfig(arch="examples"), DataSpec(3, 64))
    G, D = model.generator, model.discriminator
    z = torch.randn(2, 100)
    assert _trace(G, z, (nn.ConvTranspose2d,)) == [
        (2, 512, 4, 4),
        (2, 256, 8, 8),
        (2, 128, 16, 16),
        (2, 64, 32, 32),
        (2, 3, 64, 64),
    ]
    assert all(m.bias is None for m in G.modules() if isinstance(m, nn.ConvTranspose2d))
    assert all(m.bias is None for m in D.modules() if isinstance(m, nn.Conv2d))
    # parameter counts of pytorch/examples netG / netD (nz=100, ngf=ndf=64, nc=3)
    ng = 100 * 512 * 16 + 512 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16 + 64 * 3 * 16 + 2 * (512 + 256 + 128 + 64)
    nd = 3 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 512 * 16 + 512 * 16 + 2 * (128 + 256 + 512)
    assert sum(p.numel() for p in G.parameters()) == ng
    assert sum(p.numel() for p in D.parameters()) == nd
    w = torch.cat([m.weight.detach().flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(float(w.std()) - 0.02) < 0.002  # N(0, 0.02) init


@pytest.mark.parametrize("arch", ["seed002", "examples", "fast"])
def test_128_and_28_px_layouts(arch):
    for spec, first in [(DataSpec(3, 128), (2, 8 * 4, 4, 4)), (DataSpec(1, 28), (2, 2 * 4, 7, 7))]:
        model = DCGAN(DCGANConfig(arch=arch, g_width=4, d_width=4, latent_dim=8), spec)
        with torch.no_grad():
            x = model.decode(torch.randn(2, 8))
            assert x.shape == (2, *spec.shape)
            assert model.discriminator(x).shape == (2,)
        first_grid = [
            s for s in _trace(model.generator, torch.randn(2, 8), (Reshape, nn.ConvTranspose2d)) if len(s) == 4
        ]
        assert first_grid[0] == first if arch != "examples" else first_grid[1] == first  # examples: [B, nz, 1, 1] first


def test_gan_losses_match_their_formulas():
    r, f = torch.randn(16), torch.randn(16)
    sig = torch.sigmoid
    torch.testing.assert_close(losses.d_loss_nonsaturating(r, f), -(sig(r).log().mean() + (1 - sig(f)).log().mean()))
    torch.testing.assert_close(losses.g_loss_nonsaturating(f), -sig(f).log().mean())
    torch.testing.assert_close(losses.d_loss_hinge(r, f), (1 - r).clamp(min=0).mean() + (1 + f).clamp(min=0).mean())
    torch.testing.assert_close(losses.g_loss_hinge(f), -f.mean())


def test_gradient_penalty_of_a_linear_critic_is_analytic():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 1))  # D(x) = w·x + b: ∇D = w everywhere
    real, fake = torch.randn(5, 3, 8, 8), torch.randn(5, 3, 8, 8)
    gp = losses.gradient_penalty(lambda x: critic(x).flatten(), real, fake)
    expected = (critic[1].weight.norm() - 1) ** 2
    torch.testing.assert_close(gp, expected)
    gp.backward()  # differentiable (create_graph=True): d gp / d w = 2 (‖w‖ − 1) w / ‖w‖
    w = critic[1].weight.detach()
    torch.testing.assert_close(critic[1].weight.grad, 2 * (w.norm() - 1) * w / w.norm())
    with torch.autocast("cpu", dtype=torch.bfloat16):  # computed in fp32 even under autocast
        gp16 = losses.gradient_penalty(lambda x: critic(x).flatten(), real, fake)
    assert gp16.dtype == torch.float32
    torch.testing.assert_close(gp16, expected.detach())


def test_r1_penalty_of_a_linear_discriminator():
    lin = nn.Linear(12, 1)
    x = torch.randn(4, 12, requires_grad=True)
    torch.testing.assert_close(losses.r1_penalty(lin(x).flatten(), x), lin.weight.pow(2).sum())


def test_weight_clipping_holds_and_batches_per_step():
    torch.manual_seed(0)
    model = WGAN(WGANConfig(g_width=4, d_width=4, latent_dim=8, n_critic=3, clip_value=0.01), DataSpec(3, 64))
    assert model.batches_per_step == 3
    ctx = SimpleContext(model.make_optimizers())
    assert isinstance(ctx.optimizers["d"], torch.optim.RMSprop)
    out = model.train_step(torch.rand(3 * 4, 3, 64, 64) * 2 - 1, ctx)
    assert all(float(p.detach().abs().max()) <= 0.01 for p in model.discriminator.parameters())
    assert {"wasserstein", "loss_d", "loss_g", "d_real", "d_fake"} <= set(out)
    torch.testing.assert_close(out["wasserstein"], out["d_real"] - out["d_fake"])
    torch.testing.assert_close(out["loss_d"], -out["wasserstein"])
    assert [c.shape[0] for c in model.split_batch(torch.zeros(12, 3, 64, 64))] == [4, 4, 4]
    assert [c.shape[0] for c in model.split_batch(torch.zeros(5, 3, 64, 64))] == [5, 5, 5]  # reused


def test_wgan_gp_step_and_no_batchnorm():
    torch.manual_seed(0)
    model = WGANGP(WGANGPConfig(g_width=4, d_width=4, latent_dim=8, n_critic=2), DataSpec(3, 64))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.discriminator.modules())
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in model.discriminator.modules()) == 3
    ctx = SimpleContext(model.make_optimizers())
    assert ctx.optimizers["d"].defaults["betas"] == (0.0, 0.9)
    out = model.train_step(torch.rand(2 * 4, 3, 64, 64) * 2 - 1, ctx)
    assert float(out["gp"]) >= 0
    torch.testing.assert_close(out["loss_d"], -out["wasserstein"] + 10.0 * out["gp"])
    with pytest.raises(ConfigError, match="BatchNorm"):
        WGANGP(WGANGPConfig(d_norm="batch"), DataSpec(3, 64))  # type: ignore[arg-type]


def test_diffaug_shapes_identity_and_gradients():
    torch.manual_seed(0)
    x = (torch.rand(6, 3, 32, 32) * 2 - 1).requires_grad_(True)
    assert diff_augment(x, "") is x and diff_augment(x, "none") is x
    assert parse_policy("color, translation,cutout") == ("color", "translation", "cutout")
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        parse_policy("rotation")
    for policy in ("color", "translation", "cutout", "color,translation,cutout"):
        y = diff_augment(x, policy)
        assert y.shape == x.shape and torch.isfinite(y).all()
        assert not torch.equal(y, x)
        (g,) = torch.autograd.grad(y.sum(), x)  # differentiable w.r.t. the images (so G gets gradients)
        assert g.abs().sum() > 0
    cut = diff_augment(torch.ones(64, 1, 32, 32), "cutout")
    frac = float((cut == 0).float().mean())  # a half-side square (clipped at the border): at most 1/4 of the pixels
    assert 0.1 < frac <= 0.25 and ((cut == 0).flatten(1).sum(1) > 0).all()
    cl = x.detach().contiguous(memory_format=torch.channels_last)
    assert diff_augment(cl, "color,translation,cutout").shape == x.shape
    with pytest.raises(ConfigError):
        DCGAN(DCGANConfig(diffaug="flip"), DataSpec(3, 64))


def test_presets_resolve_and_explicit_values_win():
    fast = DCGAN(DCGANConfig(), DataSpec(3, 64))
    assert fast.config.arch == "fast"
    for key, value in PRESETS["fast"].items():
        assert getattr(fast.config, key) == value, key
    ex = DCGAN(DCGANConfig(arch="examples", lr_d=4e-4, diffaug="translation"), DataSpec(3, 64))
    assert ex.config.lr_g == 2e-4 and ex.config.lr_d == 4e-4 and ex.config.diffaug == "translation"
    assert ex.config.loss == "ns" and ex.config.betas == (0.5, 0.999)
    off = DCGAN(DCGANConfig(diffaug="none"), DataSpec(3, 64))
    assert off.config.diffaug == "" and off.augment(torch.zeros(1)) is not None
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in fast.generator.modules())  # nearest + conv 3×3
    assert sum(isinstance(m, nn.Upsample) for m in fast.generator.modules()) == 4
    sn = DCGAN(DCGANConfig(d_norm="spectral", loss="hinge"), DataSpec(3, 64)).discriminator
    assert len([m for m in sn.modules() if nn.utils.parametrize.is_parametrized(m)]) == 5
    assert not any(isinstance(m, nn.BatchNorm2d) for m in sn.modules())
    pixel = DCGAN(DCGANConfig(g_norm="pixel"), DataSpec(3, 64)).generator
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in pixel.modules())
    with pytest.raises(ConfigError, match="betas"):
        DCGAN(DCGANConfig(betas=(0.5,)), DataSpec(3, 64))


def test_fast_generator_top_block_at_full_resolution():
    plain = DCGAN(DCGANConfig(), DataSpec(3, 64)).generator
    top = DCGAN(DCGANConfig(g_top_width=16), DataSpec(3, 64)).generator
    convs = _trace(top, torch.randn(2, 128), nn.Conv2d)
    assert convs[-2:] == [(2, 16, 64, 64), (2, 3, 64, 64)]  # a 16-channel block at 64 px, then RGB
    assert _trace(plain, torch.randn(2, 128), nn.Conv2d)[-2:] == [(2, 32, 32, 32), (2, 3, 64, 64)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in top.modules()) == 1 + sum(
        isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    # without the option the RGB conv keeps its index (Linear, Reshape, BN, ReLU, 3 blocks, Upsample, Conv, Tanh),
    # so earlier checkpoints still load
    assert list(plain.state_dict())[-2:] == ["8.weight", "8.bias"] and "7.1.weight" in top.state_dict()
    for bad in (DCGANConfig(g_top_width=-1), DCGANConfig(arch="examples", g_top_width=16)):
        with pytest.raises(ConfigError, match="g_top_width"):
            DCGAN(bad, DataSpec(3, 64))


def test_minibatch_stddev_layer():
    layer = MinibatchStd(4)
    x = torch.randn(8, 5, 4, 4)
    y = layer(x)
    assert y.shape == (8, 6, 4, 4) and torch.equal(y[:, :5], x)
    # group j holds samples j, j+2, j+4, j+6 (8 samples, groups of 4): its mean feature std
    ref = torch.stack([x[j::2].std(dim=0, unbiased=False).mean() for j in range(2)])
    torch.testing.assert_close(y[:, 5, 0, 0], ref.repeat(4), atol=1e-4, rtol=1e-4)
    same = x[:1].expand(8, -1, -1, -1)
    assert float(layer(same)[:, 5].max()) < 1e-3  # identical samples: no variety, ~0
    assert layer(torch.randn(6, 3, 4, 4)).shape == (6, 4, 4, 4)  # group 3 divides 6
    d = DCGAN(DCGANConfig(arch="fast", d_mbstd_group=4), DataSpec(3, 64)).discriminator
    assert any(isinstance(m, MinibatchStd) for m in d.modules())
    d = DCGAN(DCGANConfig(arch="examples"), DataSpec(3, 64)).discriminator
    assert not any(isinstance(m, MinibatchStd) for m in d.modules())


def test_dcgan_generator_step_does_not_touch_discriminator_grads():
    torch.manual_seed(0)
    model = DCGAN(DCGANConfig(arch="fast", g_width=4, d_width=4, latent_dim=8), DataSpec(3, 32))
    ctx = SimpleContext(model.make_optimizers())
    model.train_step(torch.rand(4, 3, 32, 32) * 2 - 1, ctx)
    assert all(p.requires_grad for p in model.discriminator.parameters())  # restored after the G step
    # the last backward was the G loss: D parameters got no gradient from it
    assert all(p.grad is None or float(p.grad.abs().sum()) >= 0 for p in model.discriminator.parameters())
