"""Tiny GenerativeModels for the trainer tests (the real families live in animegen.models).

* ``toy-ae``: conv encoder → linear latent → linear/conv decoder, one optimizer ``"ae"``, EMA of the
  decoder, an encoder (recon grids). ``noise`` > 0 adds latent noise from the global RNG (so resume
  tests prove the RNG state is restored); ``nan_at`` makes the loss NaN at that step while the learning
  rate is still above ``nan_below_lr`` (a rollback with a lower lr then gets past it);
  ``explode_at`` multiplies the loss by 1e9 at that step (gradient-norm guard).
* ``toy-gan``: generator + critic with two optimizers (``"g"``, ``"d"``) and ``batches_per_step =
  n_critic`` (critic iterations, like WGAN), optional BatchNorm in the generator.
"""
from __future__ import annotations

import signal
import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from animegen.data.sources import ImageSet
from animegen.models import MODELS, DataSpec, GenerativeModel


@dataclass
class ToyAEConfig:
    latent: int = 8
    width: int = 4
    lr: float = 1e-2
    noise: float = 0.1
    nan_at: int = -1
    nan_below_lr: float = 0.0
    """NaN at step ``nan_at`` only while the learning rate is above this."""
    nan_always: bool = False
    """NaN at every step from ``nan_at`` on, whatever the learning rate."""
    explode_at: int = -1
    sleep: float = 0.0


class ToyAE(GenerativeModel):
    family = "toy-ae"
    best_metric = "val/recon"
    config_cls = ToyAEConfig
    ema_module = "decoder"
    has_encoder = True

    def __init__(self, config: ToyAEConfig, spec: DataSpec):
        super().__init__(config, spec)
        c, s, w = spec.channels, spec.size, config.width
        self.encoder = nn.Sequential(
            nn.Conv2d(c, w, 4, 2, 1), nn.LeakyReLU(0.2),  # [B, w, s/2, s/2]
            nn.Flatten(), nn.Linear(w * (s // 2) ** 2, config.latent))  # [B, latent]
        self.decoder = nn.Sequential(
            nn.Linear(config.latent, w * (s // 2) ** 2), nn.Unflatten(1, (w, s // 2, s // 2)), nn.ReLU(),
            nn.ConvTranspose2d(w, c, 4, 2, 1), nn.Tanh())  # [B, c, s, s]

    @property
    def latent_dim(self) -> int:
        return self.config.latent

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def make_optimizers(self):
        return {"ae": torch.optim.Adam(self.parameters(), lr=self.config.lr, betas=(0.5, 0.999))}

    def _lr(self, ctx) -> float:
        return ctx.optimizers["ae"].param_groups[0]["lr"] if hasattr(ctx, "optimizers") else self.config.lr

    def train_step(self, batch, ctx):
        cfg = self.config
        if cfg.sleep:
            time.sleep(cfg.sleep)
        with ctx.autocast():
            z = self.encoder(batch)
            if cfg.noise:
                z = z + cfg.noise * torch.randn_like(z)
            recon = self.decoder(z)
        loss = F.mse_loss(recon.float(), batch)
        if cfg.nan_at >= 0 and (ctx.step >= cfg.nan_at if cfg.nan_always else
                                ctx.step == cfg.nan_at and self._lr(ctx) > cfg.nan_below_lr):
            loss = loss * float("nan")
        if ctx.step == cfg.explode_at and self._lr(ctx) > cfg.nan_below_lr:
            loss = loss * 1e12
        ctx.optimize("ae", loss)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def eval_step(self, batch):
        return {"recon": F.mse_loss(self.reconstruct(batch).float(), batch)}


@dataclass
class ToyGANConfig:
    latent: int = 8
    width: int = 4
    lr: float = 2e-3
    n_critic: int = 2
    bn: bool = False
    collapse: bool = False
    """decode() ignores z (every sample identical): a mode-collapsed generator."""


class ToyGAN(GenerativeModel):
    family = "toy-gan"
    config_cls = ToyGANConfig
    ema_module = "generator"
    is_adversarial = True

    def __init__(self, config: ToyGANConfig, spec: DataSpec):
        super().__init__(config, spec)
        c, s, w = spec.channels, spec.size, config.width
        g = [nn.Linear(config.latent, w * (s // 2) ** 2), nn.Unflatten(1, (w, s // 2, s // 2))]
        if config.bn:
            g.append(nn.BatchNorm2d(w))
        g += [nn.ReLU(), nn.ConvTranspose2d(w, c, 4, 2, 1), nn.Tanh()]
        self.generator = nn.Sequential(*g)  # [B, c, s, s]
        self.critic = nn.Sequential(nn.Conv2d(c, w, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(),
                                    nn.Linear(w * (s // 2) ** 2, 1))  # [B, 1]

    @property
    def batches_per_step(self) -> int:
        return self.config.n_critic

    @property
    def latent_dim(self) -> int:
        return self.config.latent

    def decode(self, z):
        return self.generator(z * 0 if self.config.collapse else z)

    def make_optimizers(self):
        return {"g": torch.optim.Adam(self.generator.parameters(), lr=self.config.lr, betas=(0.5, 0.9)),
                "d": torch.optim.Adam(self.critic.parameters(), lr=self.config.lr, betas=(0.5, 0.9))}

    def train_step(self, batch, ctx):
        self.last_batch_shape = tuple(batch.shape)  # plain attribute: what the trainer passed
        self.last_batch_channels_last = batch.is_contiguous(memory_format=torch.channels_last)
        chunks = batch.chunk(self.config.n_critic)
        for real in chunks:
            z = torch.randn(real.shape[0], self.latent_dim, device=real.device)
            with ctx.autocast():
                fake = self.generator(z).detach()
                d_real, d_fake = self.critic(real).float(), self.critic(fake).float()
            loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()  # non-saturating GAN loss
            ctx.optimize("d", loss_d)
        z = torch.randn(chunks[-1].shape[0], self.latent_dim, device=batch.device)
        with ctx.autocast():
            loss_g = F.softplus(-self.critic(self.generator(z)).float()).mean()
        ctx.optimize("g", loss_g)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "d_real": d_real.mean().detach(),
                "d_fake": d_fake.mean().detach()}


TOYS = {ToyAE.family: ToyAE, ToyGAN.family: ToyGAN}


def register() -> None:
    """Add the toys to MODELS for good: only in subprocesses (tests use the ``toys`` fixture)."""
    MODELS.update(TOYS)


@pytest.fixture
def toys(monkeypatch):
    """The toy families in MODELS for one test (removed afterwards, so registry-wide tests never see them)."""
    for name, cls in TOYS.items():
        monkeypatch.setitem(MODELS, name, cls)
    return TOYS


def random_images(n: int = 48, size: int = 16, channels: int = 3, seed: int = 0, val_mask: bool = False) -> ImageSet:
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, size=(n, size, size, channels), dtype=np.uint8)
    mask = (np.arange(n) % 8 == 0) if val_mask else None
    return ImageSet(imgs, f"random-{n}", f"random-{n}-{size}-{channels}-{seed}", None, mask)


def toy_config(family: str = "toy-ae", steps: int = 12, size: int = 16, model: dict | None = None, **train):
    """A RunConfig for a toy family with tiny, fast settings (fp32 unless overridden)."""
    from animegen.config import DataConfig, RunConfig, TrainConfig

    model_cfg = TOYS[family].config_cls(**(model or {}))
    t = dict(steps=steps, batch_size=8, precision="fp32", log_every=2, sample_every=6, checkpoint_every=6,
             eval_every=6, n_sample_grid=4, ema_decay=0.9, threads=1, device="cpu")
    t.update(train)
    return RunConfig(family=family, name=family,
                     data=DataConfig(source="unused", size=size, channels=3, val_fraction=0.1),
                     model=model_cfg, train=TrainConfig(**t))


def state_of(path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


BUDGET_STEPS = 20  # steps in a max_cpu_minutes = BUDGET_STEPS / 60 budget under the step_clock fixture


@pytest.fixture
def step_clock(monkeypatch):
    """process_time() advances by one second per training step and by nothing else, so a CPU budget ends at a
    known step; ``stop_at`` = a step after which SIGINT arrives (Ctrl-C)."""
    clock = {"cpu": 0.0, "stop_at": -1}
    original = ToyAE.train_step

    def train_step(self, batch, ctx):
        out = original(self, batch, ctx)
        clock["cpu"] += 1.0
        if ctx.step + 1 == clock["stop_at"]:
            signal.raise_signal(signal.SIGINT)
        return out

    monkeypatch.setattr(ToyAE, "train_step", train_step)
    monkeypatch.setattr(time, "process_time", lambda: clock["cpu"])
    return clock
