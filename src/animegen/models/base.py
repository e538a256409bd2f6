"""The one interface every model family implements, so that the trainer, sampler, metrics and latent
tools never need to know which model they hold.

Conventions
-----------
* Images are ``float`` tensors ``[B, C, H, W]`` in ``[-1, 1]`` (uint8 ``x`` maps to ``x / 127.5 - 1``).
* A model is built from ``(config, spec)`` alone: ``config`` is the family's dataclass, ``spec`` the
  data shape. That is what a checkpoint stores, so ``animegen.load(path)`` can rebuild it.
* ``train_step`` owns its losses, backward passes and optimizer steps, but performs every
  update through ``ctx.optimize(name, loss)``; the trainer's context handles zero_grad, backward,
  gradient all-reduce (data parallel), clipping, norm logging, divergence checks and AMP scaling.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

from animegen.errors import CheckpointError
from animegen.latent.prior import GaussianFit

PRIORS = ("auto", "standard", "fitted", "gmm", "stage2")
"""Latent distributions ``sample``/``sample_latent`` accept (see :meth:`GenerativeModel.sample_latent`)."""


@dataclass(frozen=True)
class DataSpec:
    """Shape of the images a model consumes and produces."""

    channels: int = 3
    size: int = 64

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)


class StepContext(Protocol):
    """What a model's ``train_step`` may ask of the trainer."""

    step: int
    device: torch.device

    def autocast(self) -> AbstractContextManager:
        """Mixed-precision context for forward passes (a no-op in fp32)."""

    def optimize(self, name: str, loss: Tensor, retain_graph: bool = False) -> Tensor:
        """zero_grad → backward(loss) → sync/clip grads → optimizer ``name``.step(); returns grad norm."""


class SimpleContext:
    """A minimal single-process fp32 ``StepContext`` (for tests, notebooks and the contract test)."""

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer], device: str | torch.device = "cpu"):
        self.optimizers = optimizers
        self.device = torch.device(device)
        self.step = 0

    def autocast(self) -> AbstractContextManager:
        return contextlib.nullcontext()

    def optimize(self, name: str, loss: Tensor, retain_graph: bool = False) -> Tensor:
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward(retain_graph=retain_graph)
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        norm = torch.nn.utils.get_total_norm([p.grad for p in params]) if params else torch.zeros(())
        opt.step()
        return norm


class GenerativeModel(nn.Module):
    """Base class of every animegen model family."""

    family: ClassVar[str] = ""
    """Registry key, stored in checkpoints (e.g. ``"vae"``)."""
    config_cls: ClassVar[type] = object
    """The family's config dataclass."""
    ema_module: ClassVar[str | None] = None
    """Attribute name of the submodule whose weights get an EMA for sampling (``"generator"``, ``"decoder"``)."""
    legacy_config: ClassVar[dict[str, Any]] = {}
    """Config fields added after checkpoints already existed, with the value that rebuilds the older
    architecture. A checkpoint whose stored config lacks such a field loads with this value, never with
    a newer preset's default (which could add layers the stored weights do not have)."""
    optional_state: ClassVar[tuple[str, ...]] = ()
    """``state_dict`` keys added after checkpoints already existed (e.g. a fitted prior); a checkpoint
    without them loads, keeping the freshly built values."""
    best_metric: ClassVar[str | None] = None
    """The logged scalar (lower is better) that picks a run's ``best.safetensors``, e.g. ``"val/nelbo_per_image"``
    (``val/<key>`` of :meth:`eval_step`). None: no ``best`` checkpoint (GAN losses do not measure sample quality)."""
    has_encoder: ClassVar[bool] = False
    is_adversarial: ClassVar[bool] = False
    prefers_fitted_prior: ClassVar[bool] = False
    """``prior="auto"`` samples the fitted Gaussian (a model without a prior of its own: the AE)."""

    def __init__(self, config: Any, spec: DataSpec):
        super().__init__()
        self.config = config
        self.spec = spec

    # ---- latent space ---------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        """Size of z; every family's config has a ``latent_dim``."""
        return int(self.config.latent_dim)

    @property
    def batches_per_step(self) -> int:
        """Batches of ``train.batch_size`` images one ``train_step`` consumes (WGAN: the critic iterations)."""
        return 1

    def fitted_prior(self) -> GaussianFit | None:
        """The Gaussian fitted to the training codes (:mod:`animegen.latent.prior`), if this model has one."""
        return None

    def mixture_prior(self) -> Any:
        """The Gaussian mixture fitted to the training codes (:mod:`animegen.latent.gmm`), if this model has one."""
        return None

    def stage2_prior(self) -> Any:
        """The second-stage VAE fitted to the training codes (:mod:`animegen.latent.stage2`), if this model has one."""
        return None

    def sample_latent(self, n: int, generator: torch.Generator | None = None, truncation: float | None = None,
                      prior: str = "standard") -> Tensor:
        """Draw ``n`` latents ``[n, latent_dim]`` from the prior N(0, I), from the fitted Gaussian with
        ``prior="fitted"``, from the fitted Gaussian mixture with ``prior="gmm"``, through the second-stage VAE
        with ``prior="stage2"`` (``"auto"``: the fitted
        Gaussian where the family has no prior of its own, i.e. the AE).

        ``truncation``: resample standard-normal entries whose magnitude exceeds it (the truncation trick).
        """
        mix = self._resolve_mixture() if prior == "gmm" else self._resolve_stage2() if prior == "stage2" else None
        fit = None if prior in ("gmm", "stage2") else self._resolve_prior(prior)
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device="cpu")
        if truncation is not None and truncation > 0:
            while True:
                bad = z.abs() > truncation
                if not bad.any():
                    break
                z[bad] = torch.randn(int(bad.sum()), generator=generator, device="cpu")
        if fit is not None:
            z = fit.sample(z)  # [n, latent_dim]: μ + L ε
        if mix is not None:
            z = mix.sample(z, generator)  # [n, latent_dim]: μ_k + L_k ε, k ~ π; or the stage-2 decoder's mean
        return z.to(device)

    def _resolve_mixture(self) -> Any:
        mix = self.mixture_prior()
        if mix is None:
            raise CheckpointError(f"this {self.family} model has no fitted Gaussian mixture (VAE/VAE-GAN runs fit one "
                                  "when model.prior_components > 0, as configs/vae-faces.toml sets, in "
                                  "final.safetensors and best.safetensors, and in every export with "
                                  "train.export_priors=always); use prior 'fitted' or 'standard'")
        return mix

    def _resolve_stage2(self) -> Any:
        s2 = self.stage2_prior()
        if s2 is None:
            raise CheckpointError(f"this {self.family} model has no second-stage VAE prior (VAE/VAE-GAN runs fit one "
                                  "when model.prior_stage2 > 0, in final.safetensors and best.safetensors, and in "
                                  "every export with train.export_priors=always); use prior 'gmm', 'fitted' or "
                                  "'standard'")
        return s2

    def _resolve_prior(self, prior: str) -> GaussianFit | None:
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {', '.join(PRIORS)}, got {prior!r}")
        if prior == "standard":
            return None
        fit = self.fitted_prior()
        if prior == "auto":
            return fit if self.prefers_fitted_prior else None
        if fit is None:
            raise CheckpointError(f"this {self.family} model has no fitted prior (AE/VAE checkpoints exported by "
                                  "`animegen train` carry one; older ones can call model.fit_prior(batches)); "
                                  "use prior 'standard'")
        return fit

    def check_training_set(self, n_codes: int) -> None:
        """Called by the trainer before the first step with the number of training images (with their mirror
        images under ``data.hflip``, at most ``train.prior_fit_codes``) that the full exports encode; raise a
        ``ConfigError`` if this model's settings cannot work with it (default: no requirement)."""

    def decode(self, z: Tensor) -> Tensor:
        """Latents ``[B, latent_dim]`` → images ``[B, C, H, W]`` in ``[-1, 1]``."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, truncation: float | None = None,
               prior: str = "auto") -> Tensor:
        """``n`` new images ``[n, C, H, W]`` in ``[-1, 1]`` (``prior``: see :meth:`sample_latent`)."""
        was_training = self.training
        self.eval()
        try:
            return self.decode(self.sample_latent(n, generator, truncation, prior)).clamp(-1, 1)
        finally:
            self.train(was_training)

    def prepare_export(self, batches: Callable[[], Iterable[Tensor]], averaged: bool, costly: bool = True) -> None:
        """Called by the trainer just before it writes an exported checkpoint, with the exported weights in
        place (``averaged``: they are an EMA, not the trained weights). ``batches()`` yields unflipped
        training images ``[B, C, H, W]``. Families may fit what sampling needs (the AE/VAE fitted prior);
        ``costly`` False (periodic exports, ``train.export_priors = "end"``): fit only what is cheap and mark the
        rest not fitted."""

    def encode(self, x: Tensor) -> Tensor:
        """Images ``[B, C, H, W]`` → latent codes ``[B, latent_dim]`` (the posterior mean for a VAE)."""
        raise NotImplementedError(f"{self.family} has no encoder")

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x)).clamp(-1, 1)

    # ---- training -------------------------------------------------------------------------------
    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimizers by name (``{"ae": ...}`` or ``{"g": ..., "d": ...}``), settings from the config."""
        raise NotImplementedError

    def train_step(self, batch: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        """One training iteration on ``batch`` ``[B, C, H, W]``; returns detached 0-d scalars to log."""
        raise NotImplementedError

    @torch.no_grad()
    def eval_step(self, batch: Tensor) -> dict[str, Tensor]:
        """Validation scalars on a held-out batch (lower is better); may be empty. ``best_metric`` names one."""
        return {}
