"""The shared conv decoder's RGB skips (``model.rgb_skips``): shapes, the sum they compute, and old checkpoints."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from animegen.checkpoint import load_model, save_model
from animegen.models import DataSpec
from animegen.models.ae import AE, AEConfig
from animegen.models.convnet import ConvDecoder
from animegen.models.vae import VAE, VAEConfig


@pytest.mark.parametrize(("channels", "size", "blocks"), [(1, 28, 2), (3, 64, 4), (3, 128, 5)])
def test_skips_add_one_rgb_map_per_lower_block_and_keep_the_shape(channels, size, blocks):
    dec = ConvDecoder(8, channels, size, (8, 16, 16, 32), rgb_skips=True)
    assert len(dec.ups) == blocks and len(dec.to_rgb) == blocks - 1
    assert dec(torch.randn(2, 8)).shape == (2, channels, size, size)


def test_output_is_the_upsampled_sum_of_every_blocks_rgb_map():
    torch.manual_seed(0)
    dec = ConvDecoder(8, 3, 32, (8, 16, 16), rgb_skips=True).eval()  # 4 → 8 → 16 → 32
    feats = []
    for up in dec.ups:
        up.register_forward_hook(lambda _m, _i, out: feats.append(out))
    z = torch.randn(2, 8)
    y = dec(z)  # [2, 3, 32, 32]
    maps = [rgb(f) for rgb, f in zip(dec.to_rgb, feats[:-1], strict=True)] + [dec.out(feats[-1])]  # 8, 16, 32 px

    def up(t):
        return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

    torch.testing.assert_close(y, up(up(maps[0]) + maps[1]) + maps[2])
    assert up(up(maps[0])).std() > 0.1 * maps[2].std()  # the coarse map is a real share of the picture
    y.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in dec.to_rgb.parameters())


def test_without_skips_the_decoder_has_exactly_its_old_parameters():
    old = VAE(VAEConfig(latent_dim=8, widths=(8, 16, 16, 32)), DataSpec(3, 64))
    assert old.decoder.to_rgb is None
    assert not any("to_rgb" in k for k in old.state_dict())
    new = VAE(VAEConfig(latent_dim=8, widths=(8, 16, 16, 32), rgb_skips=True), DataSpec(3, 64))
    extra = set(new.state_dict()) - set(old.state_dict())
    assert extra and all(k.startswith("decoder.to_rgb.") for k in extra)


def test_a_checkpoint_with_skips_rebuilds_the_same_model(tmp_path):
    torch.manual_seed(1)
    model = AE(AEConfig(latent_dim=8, widths=(8, 16, 16, 32), rgb_skips=True), DataSpec(3, 64)).eval()
    save_model(tmp_path / "m.safetensors", model)
    back = load_model(tmp_path / "m.safetensors").eval()
    assert back.config.rgb_skips is True
    z = torch.randn(3, 8)
    torch.testing.assert_close(back.decode(z), model.decode(z))
