"""Deterministic autoencoder (family ``"ae"``), on the backbone it shares with the VAE (:mod:`.convnet`).

Usage::

    from animegen.models import MODELS, DataSpec
    model = MODELS["ae"](AEConfig(latent_dim=256), DataSpec(3, 128))
    opt = model.make_optimizers()            # {"ae": AdamW}
    codes = model.encode(x)                   # [B, 256]

Its latent space is not shaped like N(0, I), so ``sample(prior="standard")`` (z ~ N(0, I)) shows the
"holes" between training codes that motivate the VAE (its codes are not scaled to unit variance). Models
trained by animegen also carry a Gaussian fitted to their training codes (:mod:`animegen.latent.prior`,
refitted at every export), which ``sample()`` uses by default for the AE and with ``prior="fitted"`` for the VAE.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from animegen.latent.prior import GaussianFit, encode_all, fit_gaussian
from animegen.models import losses
from animegen.models.base import DataSpec, GenerativeModel, StepContext
from animegen.models.convnet import build_decoder, build_encoder


@dataclass
class AEConfig:
    """Autoencoder settings (``--set model.key=value``)."""

    arch: Literal["conv", "mlp"] = "conv"
    """``conv``: the shared conv backbone; ``mlp``: D-hidden-latent (784-400-20 for MNIST)."""
    widths: tuple[int, ...] = (32, 64, 128, 256)
    """Conv channel widths per stage, highest resolution first (the 64 px list; 128 px repeats the first)."""
    hidden: int = 400
    """Hidden units of the MLP variant."""
    latent_dim: int = 128
    norm: Literal["batch", "group", "none"] = "batch"
    upsample: Literal["transpose", "nearest"] = "transpose"
    """Decoder upsampling: ConvTranspose k4 s2, or nearest ×2 + conv 3×3."""
    rgb_skips: bool = False
    """Decoder: also map every lower-resolution block to RGB (1×1 conv) and sum the upsampled maps into the output
    (StyleGAN2's skip generator), a short path from the code to the image's coarse colours."""
    loss: Literal["mse", "l1", "bce"] = "mse"
    """Reconstruction loss summed per image: squared error, absolute error, or Bernoulli
    cross-entropy on [0, 1] targets (the decoder then outputs logits; MNIST)."""
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW)."""


def in_eval_mode(fn):
    """Run a method with the model in eval mode (BatchNorm running stats untouched), then restore."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        was_training = self.training
        self.eval()
        try:
            return fn(self, *args, **kwargs)
        finally:
            self.train(was_training)

    return wrapper


class EncoderDecoderModel(GenerativeModel):
    """What the AE and the VAE share: encoder/decoder built from the same config fields, the output
    head (mean in [-1, 1] or Bernoulli logits), one optimizer named ``"ae"``."""

    has_encoder = True
    prior_mean: Tensor  # buffers registered in __init__
    prior_scale_tril: Tensor
    prior_count: Tensor
    ema_module = None  # EMA of the decoder alone would no longer match the encoder used by encode()/reconstruct()

    def __init__(self, config, spec: DataSpec):
        super().__init__(config, spec)
        if config.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {config.latent_dim}")
        self.encoder = build_encoder(config, spec, self._encoder_outputs())
        self.decoder = build_decoder(config, spec)
        # the Gaussian fitted to the training codes (prepare_export); count 0 = not fitted yet
        z = config.latent_dim
        self.register_buffer("prior_mean", torch.zeros(z))  # [z]
        self.register_buffer("prior_scale_tril", torch.eye(z))  # [z, z]
        self.register_buffer("prior_count", torch.zeros((), dtype=torch.long))

    optional_state = ("prior_mean", "prior_scale_tril", "prior_count")  # absent from older checkpoints

    def fitted_prior(self) -> GaussianFit | None:
        if int(self.prior_count) < 2:
            return None
        return GaussianFit(self.prior_mean, self.prior_scale_tril, int(self.prior_count))

    @torch.no_grad()
    @in_eval_mode
    def fit_prior(self, batches) -> GaussianFit:
        """Fit (and store) the Gaussian of the codes ``encode(x)`` of ``batches`` (images ``[B, C, H, W]``)."""
        fit = fit_gaussian(encode_all(self.encode, batches))
        self.prior_mean.copy_(fit.mean)
        self.prior_scale_tril.copy_(fit.scale_tril)
        self.prior_count.fill_(fit.count)
        return fit

    @torch.no_grad()
    @in_eval_mode
    def prepare_export(self, batches, averaged: bool, costly: bool = True) -> None:
        """Fit the prior to the training codes; with fewer than 2 training images there is no covariance to
        fit, so the checkpoint carries none (``prior_count`` 0: sampling uses N(0, I))."""
        codes = encode_all(self.encode, batches())  # [N, z]
        if codes.shape[0] < 2:
            self.prior_count.zero_()
            return
        fit = fit_gaussian(codes)
        self.prior_mean.copy_(fit.mean)
        self.prior_scale_tril.copy_(fit.scale_tril)
        self.prior_count.fill_(fit.count)

    def _encoder_outputs(self) -> int:
        return self.config.latent_dim

    @property
    def outputs_logits(self) -> bool:
        raise NotImplementedError

    @property
    def num_pixels(self) -> int:
        c, h, w = self.spec.shape
        return c * h * w

    def decode(self, z: Tensor) -> Tensor:
        out = self.decoder(z).float()  # [B, C, H, W] mean or logits
        if self.outputs_logits:
            return torch.sigmoid(out) * 2.0 - 1.0  # Bernoulli mean mapped back to [-1, 1]
        return out.clamp(-1.0, 1.0)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        return {"ae": torch.optim.AdamW(self.parameters(), lr=c.lr, betas=tuple(c.betas), weight_decay=c.weight_decay)}


class AE(EncoderDecoderModel):
    family = "ae"
    best_metric = "val/recon_per_image"
    config_cls = AEConfig
    prefers_fitted_prior = True  # no prior of its own: N(0, I) falls into the holes between codes

    @property
    def outputs_logits(self) -> bool:
        return self.config.loss == "bce"

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x).float()  # [B, latent_dim]

    def _recon_per_image(self, x: Tensor, out: Tensor) -> Tensor:
        """Reconstruction loss per image ``[B]`` (summed over pixels)."""
        if self.config.loss == "bce":
            return losses.bernoulli_nll(x, out)
        if self.config.loss == "l1":
            return losses.l1_per_image(x, out)
        return losses.squared_error_per_image(x, out)

    def _terms(self, x: Tensor, ctx: StepContext | None = None) -> dict[str, Tensor]:
        with ctx.autocast() if ctx is not None else contextlib.nullcontext():
            z = self.encoder(x)  # [B, latent]
            out = self.decoder(z)  # [B, C, H, W]
        out = out.float()
        recon = self._recon_per_image(x.float(), out)  # [B]
        mean = torch.sigmoid(out) * 2 - 1 if self.outputs_logits else out
        mse = losses.squared_error_per_image(x.float(), mean) / self.num_pixels  # [B]
        return {"recon": recon, "mse": mse}

    def train_step(self, batch: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        t = self._terms(batch, ctx)
        loss = t["recon"].mean()  # reconstruction loss per image, batch mean
        grad_norm = ctx.optimize("ae", loss)
        return {
            "loss": loss.detach(),
            "recon_per_image": loss.detach(),
            "recon_per_pixel": loss.detach() / self.num_pixels,
            "mse_per_pixel": t["mse"].mean().detach(),
            "grad_norm": grad_norm.detach(),
        }

    @torch.no_grad()
    @in_eval_mode
    def eval_step(self, batch: Tensor) -> dict[str, Tensor]:
        t = self._terms(batch)
        recon = t["recon"].mean()
        return {"recon_per_image": recon, "recon_per_pixel": recon / self.num_pixels, "mse_per_pixel": t["mse"].mean()}
