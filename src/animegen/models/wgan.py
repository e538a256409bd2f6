"""Wasserstein GANs: ``"wgan"`` (weight clipping; Arjovsky et al. 2017) and ``"wgan-gp"`` (gradient
penalty; Gulrajani et al. 2017), on the DCGAN generator/critic layouts of :mod:`.dcgan` (``arch``:
``seed002`` or ``examples``) with the critic's sigmoid removed (a Wasserstein critic outputs an unbounded
score) and, for WGAN-GP, InstanceNorm instead of BatchNorm (the penalty is per sample; Gulrajani et al. 2017, §4).

n_critic and batches
--------------------
One ``train_step`` is one full WGAN iteration: ``n_critic`` critic updates, each on a FRESH real batch
and fresh z, then one generator update. The model declares ``batches_per_step = n_critic`` and the
trainer passes a batch of ``n_critic × B`` images, which ``train_step`` splits into ``n_critic`` chunks
of B (the cleanest design: the data order stays the trainer's, every real image is used once, and one
step costs one data fetch). If the batch cannot be split into ``n_critic`` equal parts (a trainer that
ignores ``batches_per_step``), the whole batch is reused for every critic update.

Logged: ``loss_d`` (−W + λ·gp), ``loss_g`` (−E D(G(z))), ``wasserstein`` (E D(x) − E D(G(z)), the critic's
estimate of the W1 distance up to the Lipschitz constant; last critic update), ``d_real``/``d_fake`` (mean
critic scores), ``gp`` (WGAN-GP), ``grad_norm_d`` (mean over the critic updates), ``grad_norm_g``.

Not under ``torch.compile``: the gradient penalty needs double backward. The penalty runs in float32
even under bf16 autocast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor

from animegen.errors import ConfigError
from animegen.models import losses
from animegen.models.base import DataSpec, GenerativeModel, StepContext
from animegen.models.blocks import init_dcgan
from animegen.models.dcgan import Discriminator, build_generator


@dataclass
class WGANConfig:
    """WGAN with weight clipping (Arjovsky et al. 2017, Algorithm 1 defaults)."""

    arch: Literal["seed002", "examples"] = "seed002"
    latent_dim: int = 100
    g_width: int = 64
    d_width: int = 64
    d_norm: Literal["batch", "instance", "layer", "none"] = "batch"
    """The WGAN paper's critic is the DCGAN discriminator with BatchNorm, minus the sigmoid."""
    clip_value: float = 0.01
    """Critic weights are clamped to [-c, c] after every critic update."""
    n_critic: int = 5
    """Critic updates per generator update (= batches_per_step)."""
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    lr_g: float = 5e-5
    lr_d: float = 5e-5
    betas: tuple[float, float] = (0.5, 0.999)
    """Adam only."""


@dataclass
class WGANGPConfig:
    """WGAN-GP (Gulrajani et al. 2017, Algorithm 1 defaults: λ 10, n_critic 5, Adam 1e-4 β (0, 0.9))."""

    arch: Literal["seed002", "examples"] = "seed002"
    latent_dim: int = 100
    g_width: int = 64
    d_width: int = 64
    d_norm: Literal["instance", "layer", "none"] = "instance"
    """No BatchNorm: the penalty is per sample. InstanceNorm(affine) as ``configs/wgan-gp.toml``; ``layer`` as
    the paper."""
    gp_weight: float = 10.0
    n_critic: int = 5
    optimizer: Literal["rmsprop", "adam"] = "adam"
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.9)


class WGAN(GenerativeModel):
    family = "wgan"
    config_cls: ClassVar[type] = WGANConfig
    ema_module = "generator"
    is_adversarial = True
    uses_gp = False

    def __init__(self, config, spec: DataSpec):
        super().__init__(config, spec)
        if config.n_critic < 1:
            raise ConfigError(f"model.n_critic must be >= 1, got {config.n_critic}")
        if self.uses_gp and config.d_norm == "batch":
            raise ConfigError(
                "model.d_norm: BatchNorm in the critic breaks the per-sample gradient penalty "
                "(Gulrajani et al. 2017, §4); use instance, layer or none"
            )
        self.generator = build_generator(config.arch, config.latent_dim, spec, config.g_width, "batch")
        self.discriminator = Discriminator(config.arch, spec, config.d_width, config.d_norm, sn=False)  # the critic
        init_dcgan(self)

    @property
    def batches_per_step(self) -> int:
        return int(self.config.n_critic)

    def decode(self, z: Tensor) -> Tensor:
        return self.generator(z).float()  # [B, C, H, W]

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config

        def make(params, lr):
            if c.optimizer == "rmsprop":
                return torch.optim.RMSprop(params, lr=lr)
            return torch.optim.Adam(params, lr=lr, betas=tuple(c.betas))

        return {"d": make(self.discriminator.parameters(), c.lr_d), "g": make(self.generator.parameters(), c.lr_g)}

    def split_batch(self, batch: Tensor) -> list[Tensor]:
        """``[n_critic·B, C, H, W]`` → n_critic chunks ``[B, C, H, W]`` (or the whole batch, reused)."""
        k = self.config.n_critic
        if batch.shape[0] % k == 0 and batch.shape[0] >= k:
            return list(batch.chunk(k, dim=0))
        return [batch] * k

    @torch.no_grad()
    def clip_critic(self) -> None:
        """Clamp every critic parameter to [-c, c] (Arjovsky et al. 2017, Algorithm 1, line 7)."""
        c = self.config.clip_value
        for p in self.discriminator.parameters():
            p.clamp_(-c, c)

    def train_step(self, batch: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        G, D = self.generator, self.discriminator
        chunks = self.split_batch(batch)
        norms_d: list[Tensor] = []
        out: dict[str, Tensor] = {}
        for real in chunks:  # n_critic critic updates, each on a fresh real chunk and fresh z
            z = torch.randn(real.shape[0], self.latent_dim, device=real.device)  # [B, z]
            with torch.no_grad(), ctx.autocast():
                fake = G(z)  # [B, C, H, W]
            with ctx.autocast():
                s_real = D(real).float()  # [B] critic scores
                s_fake = D(fake).float()  # [B]
            wasserstein = s_real.mean() - s_fake.mean()  # Arjovsky et al. 2017, eq. 3
            loss_d = -wasserstein
            if self.uses_gp:
                gp = losses.gradient_penalty(D, real, fake)  # Gulrajani et al. 2017, eq. 3
                loss_d = loss_d + self.config.gp_weight * gp
                out["gp"] = gp.detach()
            norms_d.append(ctx.optimize("d", loss_d).detach())
            if not self.uses_gp:
                self.clip_critic()

        D.requires_grad_(False)
        try:
            z = torch.randn(chunks[0].shape[0], self.latent_dim, device=batch.device)  # [B, z]
            with ctx.autocast():
                s_gen = D(G(z)).float()  # [B]
            loss_g = -s_gen.mean()  # Arjovsky et al. 2017, Algorithm 1, line 10
            grad_norm_g = ctx.optimize("g", loss_g)
        finally:
            D.requires_grad_(True)
        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "wasserstein": wasserstein.detach(),
            "d_real": s_real.mean().detach(),
            "d_fake": s_fake.mean().detach(),
            "grad_norm_d": torch.stack(norms_d).float().mean(),
            "grad_norm_g": grad_norm_g.detach(),
            **out,
        }


class WGANGP(WGAN):
    family = "wgan-gp"
    config_cls = WGANGPConfig
    uses_gp = True
