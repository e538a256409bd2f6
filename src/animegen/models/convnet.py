"""The encoder/decoder backbone SHARED by the AE and the VAE, so the two compare like-for-like:
same layers, same widths, same latent size; only the bottleneck and the loss differ.

``arch="conv"`` (default), for a 64 px RGB image and ``widths=(32, 64, 128, 256)``::

    encoder  x [B, 3, 64, 64] → conv k4 s2 → [B, 32, 32, 32] → [B, 64, 16, 16] → [B, 128, 8, 8]
             → [B, 256, 4, 4] → flatten → Linear → [B, out_features]
    decoder  z [B, latent] → Linear → [B, 256, 4, 4] → up ×2 → [B, 128, 8, 8] → [B, 64, 16, 16]
             → [B, 32, 32, 32] → [B, 32, 64, 64] → conv 3×3 → [B, 3, 64, 64] (mean or logits)

128 px adds one block of ``widths[0]`` channels at the high-resolution end; MNIST 28 px uses the
first two widths (28 → 14 → 7, a 7×7 grid at the bottleneck). See :func:`blocks.plan_stages`.

``arch="mlp"``: the pytorch/examples MNIST VAE layout, ``D → hidden → latent`` and back
(784-400-20 for MNIST with ``hidden=400, latent_dim=20``).
"""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from animegen.models.blocks import Reshape, act, down_block, norm2d, plan_stages, stage_widths, up_block


class ConvEncoder(nn.Module):
    def __init__(self, channels: int, size: int, widths: tuple[int, ...], out_features: int, norm: str = "batch"):
        super().__init__()
        n, base = plan_stages(size)
        ws = stage_widths(widths, n)
        layers: list[nn.Module] = []
        cin = channels
        for i, w in enumerate(ws):  # no norm on the first layer (Radford et al. 2016)
            layers.append(down_block(cin, w, norm="none" if i == 0 else norm, activation="lrelu"))
            cin = w
        self.features = nn.Sequential(*layers)  # [B, ws[-1], base, base]
        self.head = nn.Linear(ws[-1] * base * base, out_features)

    def forward(self, x: Tensor) -> Tensor:
        h = self.features(x)  # [B, 256, 4, 4] at 64 px
        return self.head(h.flatten(1))  # [B, out_features]


class ConvDecoder(nn.Module):
    def __init__(self, latent_dim: int, channels: int, size: int, widths: tuple[int, ...], norm: str = "batch",
                 upsample: str = "transpose", rgb_skips: bool = False):
        super().__init__()
        n, base = plan_stages(size)
        ws = stage_widths(widths, n)
        self.stem = nn.Sequential(
            nn.Linear(latent_dim, ws[-1] * base * base),  # [B, 256*4*4]
            Reshape(ws[-1], base, base),  # [B, 256, 4, 4]
            norm2d(norm, ws[-1]),
            act("relu"),
        )
        ups: list[nn.Module] = []
        couts: list[int] = []
        for j in range(n):  # widths back down: 256 → 128 → 64 → 32 → 32 (64 px)
            cin = ws[n - 1 - j]
            cout = ws[n - 2 - j] if j < n - 1 else ws[0]
            ups.append(up_block(cin, cout, norm=norm, activation="relu", mode=upsample))
            couts.append(cout)
        self.ups = nn.Sequential(*ups)  # [B, ws[0], size, size]
        self.out = nn.Conv2d(ws[0], channels, 3, 1, 1)  # [B, C, size, size]
        # rgb_skips: a 1×1 conv to the image's channels after every lower-resolution block, summed through bilinear
        # ×2 upsampling into the output (the "skip" generator of StyleGAN2, Karras et al. 2020, §4.1)
        self.to_rgb = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in couts[:-1]) if rgb_skips else None

    def forward(self, z: Tensor) -> Tensor:
        h = self.stem(z)  # [B, 256, 4, 4] at 64 px
        if not self.to_rgb:  # no skips (or a single block: nothing below full resolution)
            return self.out(self.ups(h))
        *lower, top = self.ups
        h = lower[0](h)  # [B, w_0, 2·base, 2·base]
        rgb = self.to_rgb[0](h)  # [B, C, 2·base, 2·base]
        for up, to_rgb in zip([*lower[1:], top], [*self.to_rgb[1:], self.out], strict=True):
            h = up(h)  # [B, w_j, s, s]
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + to_rgb(h)  # [B, C, s, s]
        return rgb  # [B, C, size, size]


class MLPEncoder(nn.Module):
    """``[B, C, H, W]`` → flatten ``D`` → Linear(D, hidden) → ReLU → Linear(hidden, out_features)."""

    def __init__(self, channels: int, size: int, hidden: int, out_features: int):
        super().__init__()
        d = channels * size * size
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_features)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # [B, out_features]


class MLPDecoder(nn.Module):
    """``z [B, latent]`` → Linear(latent, hidden) → ReLU → Linear(hidden, D) → ``[B, C, H, W]``."""

    def __init__(self, latent_dim: int, channels: int, size: int, hidden: int):
        super().__init__()
        d = channels * size * size
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, d), Reshape(channels, size, size)
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)  # [B, C, H, W]


def build_encoder(cfg, spec, out_features: int) -> nn.Module:
    """The encoder for an AE (``out_features = latent_dim``) or a VAE (``2 * latent_dim``: μ and log σ²)."""
    if cfg.arch == "mlp":
        return MLPEncoder(spec.channels, spec.size, cfg.hidden, out_features)
    return ConvEncoder(spec.channels, spec.size, tuple(cfg.widths), out_features, norm=cfg.norm)


def build_decoder(cfg, spec) -> nn.Module:
    if cfg.arch == "mlp":
        return MLPDecoder(cfg.latent_dim, spec.channels, spec.size, cfg.hidden)
    return ConvDecoder(cfg.latent_dim, spec.channels, spec.size, tuple(cfg.widths), norm=cfg.norm,
                       upsample=cfg.upsample, rgb_skips=cfg.rgb_skips)
