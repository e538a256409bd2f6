"""Small building blocks shared by every model family: norms, spectral norm, init, stage planning.

Nothing here knows about a model family; each family file composes these into its networks.
"""
from __future__ import annotations

from typing import Any, Literal, cast

import torch
from torch import Tensor, nn

NormKind = Literal["batch", "instance", "layer", "group", "pixel", "none"]


# ----------------------------------------------------------------------------- stage planning


def plan_stages(size: int, base_max: int = 4) -> tuple[int, int]:
    """How many ×2 stages turn ``size`` into a small base grid: ``(n_stages, base)``.

    Halve while the side is even and the half is still >= ``base_max``:
    64 → (4, 4) (64→32→16→8→4), 128 → (5, 4) (one more stage), 32 → (3, 4), 28 (MNIST) → (2, 7)
    (28→14→7). Encoders/discriminators go down ``n_stages`` times; decoders/generators start at
    ``base × base`` and double ``n_stages`` times.
    """
    if size < base_max:
        raise ValueError(f"image size {size} is too small (need >= {base_max})")
    n, s = 0, size
    while s % 2 == 0 and s // 2 >= base_max:
        s //= 2
        n += 1
    if n == 0:
        raise ValueError(f"image size {size} cannot be halved; use an even size such as 28, 32, 64 or 128")
    return n, s


def stage_widths(widths: tuple[int, ...], n: int) -> list[int]:
    """Per-stage channel widths (highest resolution first) for ``n`` stages from a configured list.

    The config lists widths for 64 px (4 stages, e.g. 32-64-128-256). With fewer stages (MNIST
    28 px: 2) the first ``n`` are used; with more (128 px: 5) the first width is repeated at the
    high-resolution end, i.e. 128 px adds one block of ``widths[0]`` channels.
    """
    widths = tuple(int(w) for w in widths)
    if not widths or min(widths) < 1:
        raise ValueError(f"widths must be positive integers, got {widths}")
    if n <= len(widths):
        return list(widths[:n])
    return [widths[0]] * (n - len(widths)) + list(widths)


def gan_multipliers(n: int, cap: int = 8) -> list[int]:
    """DCGAN channel multipliers for ``n`` stages, highest resolution first: 64 px → [1, 2, 4, 8];
    128 px → [1, 2, 4, 8, 8] (capped at ``cap`` so the extra block sits at the low-res end);
    28 px → [1, 2]."""
    return [min(cap, 2**i) for i in range(n)]


# ----------------------------------------------------------------------------- norms


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit RMS (Karras et al. 2018, ProGAN §4.2)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.float().pow(2).mean(dim=1, keepdim=True) + 1e-8).to(x.dtype)


class MinibatchStd(nn.Module):
    """Append the mean standard deviation of the features over groups of ``group_size`` samples as one
    extra channel (Karras et al. 2018, ProGAN §3): D can see a lack of variety, which fights mode collapse.
    ``[B, C, H, W]`` → ``[B, C + 1, H, W]``. The group is the largest divisor of B not above ``group_size``."""

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = int(group_size)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        g = max(d for d in range(1, min(self.group_size, b) + 1) if b % d == 0)
        y = x.float().reshape(g, b // g, c, h, w)  # [G, M, C, H, W]: sample i is in group i mod M
        y = (y - y.mean(dim=0)).pow(2).mean(dim=0).add(1e-8).sqrt()  # [M, C, H, W] std over each group
        y = y.mean(dim=(1, 2, 3)).reshape(b // g, 1, 1, 1).repeat(g, 1, h, w)  # [B, 1, H, W]
        return torch.cat([x, y.to(x.dtype)], dim=1)  # [B, C+1, H, W]

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


def norm2d(kind: str, channels: int) -> nn.Module:
    """A 2-d normalisation layer by name (``none`` → identity)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "layer":  # LayerNorm over (C, H, W) per sample, as in the WGAN-GP critic
        return nn.GroupNorm(1, channels)
    if kind == "group":
        return nn.GroupNorm(min(32, channels // 4) or 1, channels)
    if kind == "pixel":
        return PixelNorm()
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose batch, instance, layer, group, pixel or none")


def spectral(module: nn.Module, enabled: bool = True) -> nn.Module:
    """Wrap a conv/linear layer in spectral normalisation (Miyato et al. 2018) when ``enabled``."""
    if not enabled:
        return module
    return nn.utils.parametrizations.spectral_norm(module)


def act(kind: str) -> nn.Module:
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "lrelu":
        return nn.LeakyReLU(0.2, inplace=True)
    if kind == "silu":
        return nn.SiLU(inplace=True)
    raise ValueError(f"unknown activation {kind!r}")


# ----------------------------------------------------------------------------- blocks


class Reshape(nn.Module):
    """``[B, C*H*W]`` → ``[B, C, H, W]``."""

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return str(self.shape)


def down_block(cin: int, cout: int, norm: str = "batch", activation: str = "lrelu", sn: bool = False) -> nn.Sequential:
    """Conv k4 s2 p1 (halves H, W) → norm → activation. Bias only when there is no norm after it."""
    bias = norm in ("none", "pixel")
    return nn.Sequential(spectral(nn.Conv2d(cin, cout, 4, 2, 1, bias=bias), sn), norm2d(norm, cout), act(activation))


def up_block(cin: int, cout: int, norm: str = "batch", activation: str = "relu",
             mode: str = "transpose") -> nn.Sequential:
    """Doubles H, W: ``transpose`` = ConvTranspose k4 s2 p1; ``nearest`` = nearest ×2 + Conv 3×3
    (no checkerboard artefacts, Odena et al. 2016 "Deconvolution and Checkerboard Artifacts")."""
    bias = norm in ("none", "pixel")
    if mode == "transpose":
        conv: list[nn.Module] = [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias)]
    elif mode == "nearest":
        conv = [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=bias)]
    else:
        raise ValueError(f"unknown upsampling {mode!r}; choose transpose or nearest")
    return nn.Sequential(*conv, norm2d(norm, cout), act(activation))


# ----------------------------------------------------------------------------- init


@torch.no_grad()
def init_dcgan(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2016, §4): conv/linear weights N(0, 0.02), norm scales
    N(1, 0.02), biases 0. Spectral-normalised layers are initialised through their ``original``."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            parametrized = nn.utils.parametrize.is_parametrized(m, "weight")
            w = cast(Any, m).parametrizations.weight.original if parametrized else m.weight
            w.normal_(0.0, 0.02)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)) and m.weight is not None:
            m.weight.normal_(1.0, 0.02)
            m.bias.zero_()


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
