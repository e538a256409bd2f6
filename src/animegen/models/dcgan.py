"""DCGAN family (``"dcgan"``; Radford et al. 2016) with three architecture presets (``arch``):

``seed002`` — exactly the layout of the classic anime-face homework GAN (``configs/dcgan-seed002.toml``), 64 px::

    G  z [B, 100] → Linear(z, fd·8·4·4, bias=False) → BN1d → ReLU → [B, 512, 4, 4]
       → ConvT(k5 s2 p2 op1, bias=False)-BN-ReLU → [B, 256, 8, 8] → [B, 128, 16, 16] → [B, 64, 32, 32]
       → ConvT(fd, C, k5 s2 p2 op1, bias=False) → Tanh → [B, 3, 64, 64]
    D  x → Conv(C, fd, k4 s2 p1) → LReLU(0.2) → [B, 64, 32, 32]
       → Conv(k4 s2 p1)-BN-LReLU → [B, 128, 16, 16] → [B, 256, 8, 8] → [B, 512, 4, 4]
       → Conv(8fd, 1, k4 s1 p0) → [B] logits (the article's Sigmoid is folded into BCE-with-logits:
         the same objective, numerically stable)

``examples`` — the pytorch/examples DCGAN: G = ConvT(z, 8·ngf, k4 s1 p0) from 1×1 then ConvT k4 s2 p1
doublings with BN-ReLU, Tanh; D = Conv k4 s2 p1 with BN-LReLU; no biases; weights N(0, 0.02); ngf = ndf = 64.

``fast`` — the recommended recipe for a small CPU budget (``configs/gan-recommended.toml``)::

    G  z [B, 128] → Linear → [B, 256, 4, 4] → BN → ReLU
       → (nearest ×2 → conv 3×3 → BN → ReLU) → [B, 128, 8, 8] → [B, 64, 16, 16] → [B, 32, 32, 32]
       → nearest ×2 → conv 3×3 → Tanh → [B, 3, 64, 64]
    D  x → conv k4 s2 p1 → LReLU → [B, 32, 32, 32] → (conv k4 s2 p1 → BN → LReLU) → [B, 64, 16, 16]
       → [B, 128, 8, 8] → [B, 256, 4, 4] → conv k4 → [B] logits

  The DCGAN objective (non-saturating BCE) and BatchNorm D of ``examples``, with three changes; together they
  beat the plain pytorch/examples loop at the same CPU budget by a wide FID margin (measured in BENCHMARKS.md):

  * the generator upsamples by nearest neighbour ×2 + conv 3×3 instead of transposed convolutions (the
    "faces drowned in colour noise" of the plain loop are transposed-conv checkerboards, Odena et al. 2016)
    at half the width (32), so a step costs about a third of the FLOPs;
  * DiffAugment translation on every image D sees (Zhao et al. 2020). Without it, D memorises a dataset
    of this size and the same recipe at batch 64 collapsed onto one face. This preset sets
    ``diffaug="translation"``;
  * (training settings, in the recipe file) batch 16 (1.8× the updates of batch 32 per CPU-minute, and a
    lower FID at equal CPU); Adam at lr 4e-4 for G and D, lowered linearly to 0 over the last 30 % of the run
    (``train.lr_decay=0.3``; the rate lowered FID at equal CPU on two seeds, the decay's effect is within the
    seed spread); and an EMA of G (decay 0.999 from step 1,000)
    whose BatchNorm statistics the trainer re-estimates for the averaged weights before each export
    (``animegen.train.ema.recalibrate_batchnorm``);
  * (also in the recipe file, not the preset) ``g_top_width=16``: one more nearest ×2 + conv 3×3 + BN + ReLU
    block, so G computes at 64 px before its RGB conv (``[B, 32, 32, 32] → [B, 16, 64, 64] → [B, 3, 64, 64]``)
    instead of mapping upsampled 32 px features straight to RGB. A 32-wide block gave a clearly lower FID than
    none at the same steps; 16 wide is a little cheaper per step and scored lower than 32 at two of the three
    seeds compared, 3.5 FID lower on average, within the seed spread (BENCHMARKS.md).

  What did not help at this budget (BENCHMARKS.md): a spectrally normalised D with hinge loss
  (+ minibatch-stddev, DiffAugment), with either a PixelNorm or a BatchNorm G, and a PixelNorm G with the
  BatchNorm D; all narrowed the samples towards one face or hair style. Those knobs stay available: ``loss="hinge"``,
  ``d_norm="spectral"``, ``d_mbstd_group``, ``r1_gamma``, ``g_norm="pixel"``. Also available, off in the recipe:
  adaptive augmentation (``ada_target``, :mod:`animegen.models.ada`), for long runs whose D grows confident on
  the training images.

Other sizes: the number of doublings comes from :func:`blocks.plan_stages`. 128 px adds one block at the
low-resolution end (channel multipliers 1-2-4-8-8, capped at 8×, so G starts at [B, 8·fd, 4, 4] and has one
more 8·fd → 8·fd doubling; D one more 8·fd block). MNIST 28 px: G starts at 7×7 with two doublings
([B, 2·fd, 7, 7] → [B, fd, 14, 14] → [B, 1, 28, 28]); D's last conv uses a 7×7 kernel; 32 px: three doublings.

Fields left at ``"auto"`` / ``0`` / ``()`` take the value of the ``arch`` preset, so ``--set model.arch=examples``
switches every preset-dependent setting at once while explicit values still win; the model stores the resolved
config, so a checkpoint always records concrete values.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final, Literal

import torch
from torch import Tensor, nn

from animegen.errors import ConfigError
from animegen.models import losses
from animegen.models.ada import AdaptiveAugment
from animegen.models.base import DataSpec, GenerativeModel, StepContext
from animegen.models.blocks import (
    MinibatchStd,
    Reshape,
    act,
    gan_multipliers,
    init_dcgan,
    norm2d,
    plan_stages,
    spectral,
    up_block,
)
from animegen.models.diffaug import diff_augment, parse_policy

Arch = Literal["fast", "seed002", "examples"]
AUTO: Final = "auto"

PRESETS: dict[str, dict] = {
    # the homework GAN of configs/dcgan-seed002.toml (Adam lr 1e-4, batch 64; β1 0.5 as in DCGAN)
    "seed002": dict(latent_dim=100, g_width=64, d_width=64, loss="ns", g_norm="batch", d_norm="batch",
                    d_mbstd_group=1, diffaug="", lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.999)),
    # pytorch/examples dcgan/main.py defaults
    "examples": dict(latent_dim=100, g_width=64, d_width=64, loss="ns", g_norm="batch", d_norm="batch",
                     d_mbstd_group=1, diffaug="", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)),
    # recommended for a CPU budget (measured, see the module docstring): the DCGAN objective and BatchNorm
    # D, a generator that upsamples by nearest neighbour + conv 3×3 at half the width, DiffAugment translation
    "fast": dict(latent_dim=128, g_width=32, d_width=32, loss="ns", g_norm="batch", d_norm="batch",
                 d_mbstd_group=1, diffaug="translation", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.99)),
}


@dataclass
class DCGANConfig:
    """DCGAN settings (``--set model.key=value``). ``"auto"`` / ``0`` / ``()`` = the ``arch`` preset's value
    (see ``PRESETS``); the model keeps the resolved values, so checkpoints record concrete settings."""

    arch: Arch = "fast"
    """Layout preset: ``fast`` (recommended), ``seed002`` (the homework GAN), ``examples`` (pytorch/examples)."""
    latent_dim: int = 0
    """z size; 0 = preset (seed002/examples 100, fast 128)."""
    g_width: int = 0
    """Generator base width fd/ngf (channels fd·8 at 4×4 down to fd); 0 = preset (64; fast 32)."""
    g_top_width: int = 0
    """``fast`` only: channels of one more nearest ×2 + conv 3×3 + norm + ReLU block at the output resolution,
    before the RGB conv, so G has a nonlinearity at full resolution; 0 = none (the RGB conv follows the last
    upsampling directly, as DCGAN's last transposed conv does)."""
    d_width: int = 0
    """Discriminator base width fd/ndf; 0 = preset (64; fast 32)."""
    loss: Literal["auto", "ns", "hinge"] = AUTO
    """``ns``: non-saturating BCE (Goodfellow et al. 2014); ``hinge`` (Lim & Ye 2017; Miyato et al. 2018)."""
    g_norm: Literal["auto", "batch", "pixel", "none"] = AUTO
    """Generator normalisation. ``pixel`` (Karras et al. 2018) has no batch statistics, so an EMA copy of G
    samples exactly like G; BatchNorm's running statistics do not match EMA-averaged weights."""
    d_norm: Literal["auto", "batch", "instance", "layer", "none", "spectral"] = AUTO
    """Discriminator normalisation; ``spectral`` = spectral norm on every D layer (Miyato et al. 2018), no BN."""
    d_mbstd_group: int = 0
    """Minibatch standard deviation layer before D's last conv (Karras et al. 2018) over groups of this many
    samples, against mode collapse; 1 = off; 0 = preset (off in every preset)."""
    diffaug: str = AUTO
    """DiffAugment policy (Zhao et al. 2020): a comma list of color, translation, cutout; "" or "none" = off."""
    ada_target: float = 0.0
    """Adaptive augmentation (Karras et al. 2020, :mod:`animegen.models.ada`): D's images also pass through each
    transform of ``ada_policy`` with a probability p steered so that E[sign(D(real))] stays near this target
    (the paper uses 0.6); logged as ``train/ada_p``; 0 = off."""
    ada_policy: str = "color,cutout"
    """Transforms applied with probability p, after ``diffaug`` (which applies always)."""
    ada_kimg: float = 100.0
    """Thousands of images for p to go from 0 to 1 (the paper's 500 is a third of a 180 CPU-minute run here)."""
    r1_gamma: float = 0.0
    """R1 penalty weight γ on real data (Mescheder et al. 2018); 0 disables."""
    lr_g: float = 0.0
    """Generator learning rate; 0 = preset. Separate lr_g/lr_d allow TTUR (Heusel et al. 2017)."""
    lr_d: float = 0.0
    betas: tuple[float, ...] = ()
    """Adam (β1, β2); empty = preset."""
    weight_decay: float = 0.0


def resolve_preset(config: DCGANConfig) -> DCGANConfig:
    """A copy of ``config`` with every ``auto``/``0``/``()`` replaced by the ``arch`` preset's value."""
    if config.arch not in PRESETS:
        raise ConfigError(f"model.arch: unknown DCGAN preset {config.arch!r}; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[config.arch]
    unset = (AUTO, 0, 0.0, ())
    changes = {k: v for k, v in preset.items()
               if getattr(config, k) in unset and not isinstance(getattr(config, k), bool)}
    out = dataclasses.replace(config, **changes)
    if len(out.betas) != 2:
        raise ConfigError(f"model.betas: expected two values (beta1, beta2), got {list(out.betas)}")
    out.betas = tuple(float(b) for b in out.betas)
    if out.diffaug.strip().lower() in ("none", "off"):
        out.diffaug = ""
    return out


# ----------------------------------------------------------------------------- networks


def _g_norm1d(kind: str, features: int) -> nn.Module:
    return nn.BatchNorm1d(features) if kind == "batch" else nn.Identity()


def build_generator(arch: str, latent_dim: int, spec: DataSpec, width: int, norm: str = "batch",
                    top_width: int = 0) -> nn.Sequential:
    """The generator of a preset, for any size ``plan_stages`` accepts (``top_width``: see ``DCGANConfig``)."""
    n, base = plan_stages(spec.size)
    ch = [width * m for m in gan_multipliers(n)]  # channels per resolution, highest first: [fd, 2fd, 4fd, 8fd]
    c = spec.channels
    bias = norm != "batch"
    layers: list[nn.Module] = []
    if arch == "seed002":
        layers += [
            nn.Linear(latent_dim, ch[-1] * base * base, bias=False),  # [B, 8fd*4*4]
            _g_norm1d(norm, ch[-1] * base * base),
            act("relu"),
            Reshape(ch[-1], base, base),
        ]  # [B, 8fd, 4, 4]
        if norm == "pixel":
            layers.append(norm2d("pixel", ch[-1]))
        for i in range(n - 1, 0, -1):  # dconv_bn_relu: [B, 8fd, 4, 4] → [B, 4fd, 8, 8] → ... → [B, fd, 32, 32]
            layers += [
                nn.ConvTranspose2d(ch[i], ch[i - 1], 5, 2, padding=2, output_padding=1, bias=bias),
                norm2d(norm, ch[i - 1]),
                act("relu"),
            ]
        layers += [
            nn.ConvTranspose2d(ch[0], c, 5, 2, padding=2, output_padding=1, bias=False),  # [B, C, 64, 64]
            nn.Tanh(),
        ]
    elif arch == "examples":
        layers += [
            Reshape(latent_dim, 1, 1),  # [B, nz, 1, 1]
            nn.ConvTranspose2d(latent_dim, ch[-1], base, 1, 0, bias=bias),  # [B, 8ngf, 4, 4]
            norm2d(norm, ch[-1]),
            act("relu"),
        ]
        for i in range(n - 1, 0, -1):  # [B, 8ngf, 4, 4] → [B, 4ngf, 8, 8] → ... → [B, ngf, 32, 32]
            layers += [nn.ConvTranspose2d(ch[i], ch[i - 1], 4, 2, 1, bias=bias), norm2d(norm, ch[i - 1]), act("relu")]
        layers += [nn.ConvTranspose2d(ch[0], c, 4, 2, 1, bias=False), nn.Tanh()]  # [B, C, 64, 64]
    elif arch == "fast":
        layers += [
            nn.Linear(latent_dim, ch[-1] * base * base, bias=True),  # [B, 8w*4*4]
            Reshape(ch[-1], base, base),  # [B, 8w, 4, 4]
            norm2d(norm, ch[-1]),
            act("relu"),
        ]
        for i in range(n - 1, 0, -1):  # nearest ×2 + conv3: [B, 8w, 4, 4] → [B, 4w, 8, 8] → ... → [B, w, 32, 32]
            layers.append(up_block(ch[i], ch[i - 1], norm=norm, activation="relu", mode="nearest"))
        if top_width:
            layers.append(up_block(ch[0], top_width, norm=norm, activation="relu", mode="nearest"))  # [B, t, 64, 64]
        else:
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))  # [B, w, 64, 64]
        layers += [nn.Conv2d(top_width or ch[0], c, 3, 1, 1), nn.Tanh()]  # to RGB: [B, C, 64, 64]
    else:
        raise ConfigError(f"unknown generator arch {arch!r}")
    return nn.Sequential(*layers)


class Discriminator(nn.Module):
    """Conv k4 s2 p1 down to the base grid, then a conv with the base-size kernel → one logit per image."""

    def __init__(
        self, arch: str, spec: DataSpec, width: int, norm: str = "batch", sn: bool = False, mbstd_group: int = 1
    ):
        super().__init__()
        n, base = plan_stages(spec.size)
        ch = [width * m for m in gan_multipliers(n)]  # [fd, 2fd, 4fd, 8fd] at 32, 16, 8, 4 px (64 px input)
        bias = (
            arch != "examples"
        )  # pytorch/examples uses bias=False everywhere; the other layouts keep Conv2d's default
        layers: list[nn.Module] = [spectral(nn.Conv2d(spec.channels, ch[0], 4, 2, 1, bias=bias), sn), act("lrelu")]
        for i in range(1, n):  # [B, fd, 32, 32] → [B, 2fd, 16, 16] → [B, 4fd, 8, 8] → [B, 8fd, 4, 4]
            layers += [spectral(nn.Conv2d(ch[i - 1], ch[i], 4, 2, 1, bias=bias), sn), norm2d(norm, ch[i]), act("lrelu")]
        extra = 0
        if mbstd_group > 1:
            layers.append(MinibatchStd(mbstd_group))  # [B, 8fd + 1, 4, 4]
            extra = 1
        layers.append(spectral(nn.Conv2d(ch[-1] + extra, 1, base, 1, 0, bias=bias), sn))  # [B, 1, 1, 1]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten()  # [B] logits (or critic scores)


# ----------------------------------------------------------------------------- model


class DCGAN(GenerativeModel):
    family = "dcgan"
    config_cls = DCGANConfig
    ema_module = "generator"
    is_adversarial = True
    legacy_config = {"d_mbstd_group": 1}  # added in 0.1.0-dev; earlier checkpoints had no minibatch-stddev layer

    def __init__(self, config: DCGANConfig, spec: DataSpec):
        config = resolve_preset(config)
        super().__init__(config, spec)
        try:
            self._policy = parse_policy(config.diffaug)
        except ValueError as exc:
            raise ConfigError(f"model.diffaug: {exc}") from None
        self.ada: AdaptiveAugment | None = None
        if config.ada_target:
            try:
                self.ada = AdaptiveAugment(config.ada_policy, config.ada_target, config.ada_kimg)
            except ValueError as exc:
                raise ConfigError(f"model.ada_*: {exc}") from None
        if config.g_top_width < 0 or (config.g_top_width and config.arch != "fast"):
            raise ConfigError(f"model.g_top_width: {config.g_top_width} needs arch='fast' and a value ≥ 0")
        self.generator = build_generator(
            config.arch, config.latent_dim, spec, config.g_width, config.g_norm, config.g_top_width
        )
        sn = config.d_norm == "spectral"
        self.discriminator = Discriminator(
            config.arch, spec, config.d_width, "none" if sn else config.d_norm, sn, mbstd_group=config.d_mbstd_group
        )
        init_dcgan(self)

    def decode(self, z: Tensor) -> Tensor:
        return self.generator(z).float()  # [B, C, H, W] in [-1, 1] (tanh)

    def augment(self, x: Tensor) -> Tensor:
        x = diff_augment(x, self._policy)
        return x if self.ada is None else self.ada(x)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        betas = tuple(c.betas)

        def adam(params, lr):
            return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=c.weight_decay)

        return {"d": adam(self.discriminator.parameters(), c.lr_d), "g": adam(self.generator.parameters(), c.lr_g)}

    def _losses(self, real_logits: Tensor | None, fake_logits: Tensor) -> Tensor:
        if self.config.loss == "hinge":
            if real_logits is None:
                return losses.g_loss_hinge(fake_logits)  # Lim & Ye 2017
            return losses.d_loss_hinge(real_logits, fake_logits)  # Lim & Ye 2017; Miyato et al. 2018
        if real_logits is None:
            return losses.g_loss_nonsaturating(fake_logits)  # Goodfellow et al. 2014, §3
        return losses.d_loss_nonsaturating(real_logits, fake_logits)  # Goodfellow et al. 2014, eq. 1

    def _score(self, logits: Tensor) -> Tensor:
        """Logged D output: mean probability for the BCE loss, mean raw score for hinge."""
        return torch.sigmoid(logits).mean() if self.config.loss == "ns" else logits.mean()

    def train_step(self, batch: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        """One D update then one G update on the same fake batch (as pytorch/examples)."""
        G, D = self.generator, self.discriminator
        real = batch  # [B, C, H, W]
        z = torch.randn(real.shape[0], self.latent_dim, device=real.device)  # [B, z]
        r1_on = self.config.r1_gamma > 0
        if r1_on:
            real = real.detach().requires_grad_(True)

        # ---- discriminator
        with ctx.autocast():
            fake = G(z)  # [B, C, H, W]
            real_logits = D(self.augment(real)).float()  # [B]
            fake_logits = D(self.augment(fake.detach())).float()  # [B]
        loss_d = self._losses(real_logits, fake_logits)
        out: dict[str, Tensor] = {}
        if r1_on:
            r1 = losses.r1_penalty(real_logits, real)  # Mescheder et al. 2018, eq. 9
            loss_d = loss_d + 0.5 * self.config.r1_gamma * r1
            out["r1"] = r1.detach()
        grad_norm_d = ctx.optimize("d", loss_d)
        if self.ada is not None:
            self.ada.observe(real_logits)
            out.update(self.ada.stats())

        # ---- generator (D frozen: no weight grads computed for it)
        D.requires_grad_(False)
        try:
            with ctx.autocast():
                gen_logits = D(self.augment(fake)).float()  # [B]
            loss_g = self._losses(None, gen_logits)
            grad_norm_g = ctx.optimize("g", loss_g)
        finally:
            D.requires_grad_(True)
        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "d_real": self._score(real_logits.detach()),
            "d_fake": self._score(fake_logits.detach()),
            "grad_norm_d": grad_norm_d.detach(),
            "grad_norm_g": grad_norm_g.detach(),
            **out,
        }
