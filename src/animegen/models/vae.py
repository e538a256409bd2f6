"""Variational autoencoder (family ``"vae"``; Kingma & Welling 2014), on the backbone shared with the AE.

Objective, per image (x has D = C·H·W pixels in [-1, 1])::

    recon = −log p(x | z),  z = μ + σ ⊙ ε, ε ~ N(0, I)       (reparameterisation, K&W 2014 §2.4)
    kl    = KL(q(z | x) || N(0, I)), closed form            (K&W 2014, App. B)
    loss  = recon + β_t · kl                                (β-VAE, Higgins et al. 2017; β_t warms up linearly)
    elbo  = −(recon + kl)                                   (a true lower bound on log p(x): β = 1, full Gaussian
                                                             log-density including log σ and ½ log 2π)

Likelihoods (``likelihood``):

* ``gaussian``: p(x|z) = N(decoder(z), σ² I). σ (``obs_std``, in [-1, 1] pixel units) is the knob that
  balances reconstruction against KL (seed article 001: "set the observation std as a hyperparameter";
  a smaller σ = sharper reconstructions, a less regular latent space). ``learn_obs_std`` learns one
  shared log σ by gradient descent (σ-VAE, Rybkin et al. 2021), which converges to σ² = MSE.
* ``bernoulli``: the decoder outputs logits; targets are (x + 1) / 2 (MNIST; pytorch/examples VAE).

Logged (all with the sign they carry in their name, per image = summed over pixels / latent dims):
``loss`` (the optimised β-weighted objective), ``recon_per_image`` (−log p(x|z), nats), ``kl_per_image`` (nats, ≥ 0),
``elbo_per_image`` (= −(recon + kl), higher is better), ``recon_per_pixel`` = recon / D, ``mse_per_pixel``
(comparable with the AE), ``bits_per_dim`` (−ELBO in bits per pixel; for the Gaussian, +log2(128) turns the
density on [-1, 1] into a probability of the 8-bit value — a bound with uniform dequantisation, Theis et al. 2016),
``kl_weight`` (β_t), ``obs_std``.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from animegen.models import losses
from animegen.models.ae import EncoderDecoderModel, in_eval_mode
from animegen.models.base import StepContext

LOG2_BINS = math.log2(128.0)  # 8-bit values on [-1, 1]: bin width 2/256 → +log2(128) bits per pixel


@dataclass
class VAEConfig:
    """VAE settings (``--set model.key=value``). The backbone fields match :class:`AEConfig`."""

    arch: Literal["conv", "mlp"] = "conv"
    """``conv``: the shared conv backbone; ``mlp``: D-hidden-latent (784-400-20 for MNIST, as pytorch/examples)."""
    widths: tuple[int, ...] = (32, 64, 128, 256)
    """Conv channel widths per stage, highest resolution first (the 64 px list; 128 px repeats the first)."""
    hidden: int = 400
    """Hidden units of the MLP variant."""
    latent_dim: int = 128
    norm: Literal["batch", "group", "none"] = "batch"
    upsample: Literal["transpose", "nearest"] = "transpose"
    likelihood: Literal["gaussian", "bernoulli"] = "gaussian"
    obs_std: float = 0.1
    """Gaussian observation std σ in [-1, 1] pixel units (0.1 ≈ 13 grey levels); the initial value if learned."""
    learn_obs_std: bool = False
    """Learn one shared log σ with the other parameters (σ-VAE)."""
    beta: float = 1.0
    """Weight of the KL term (β-VAE); 1 is the ELBO."""
    kl_warmup_steps: int = 0
    """Ramp the KL weight linearly from 0 to β over this many steps; 0 disables."""
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW)."""


class VAE(EncoderDecoderModel):
    family = "vae"
    best_metric = "val/nelbo_per_image"
    config_cls = VAEConfig

    def __init__(self, config: VAEConfig, spec):
        if config.obs_std <= 0:
            raise ValueError(f"obs_std must be > 0, got {config.obs_std}")
        super().__init__(config, spec)
        log_std = torch.tensor(math.log(config.obs_std))
        if config.learn_obs_std:
            self.log_obs_std = nn.Parameter(log_std)
        else:
            self.register_buffer("log_obs_std", log_std)

    def _encoder_outputs(self) -> int:
        return 2 * self.config.latent_dim  # μ and log σ²

    @property
    def outputs_logits(self) -> bool:
        return self.config.likelihood == "bernoulli"

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q(z | x) parameters: ``(μ, log σ²)``, each ``[B, latent_dim]`` float32."""
        h = self.encoder(x).float()  # [B, 2*latent]
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def encode(self, x: Tensor) -> Tensor:
        return self.posterior(x)[0]  # posterior mean [B, latent_dim]

    def _log_std(self) -> Tensor:
        return self.log_obs_std.float().clamp(min=math.log(1e-3))

    def recon_nll(self, x: Tensor, out: Tensor) -> Tensor:
        """−log p(x | z) per image ``[B]`` for decoder output ``out`` (mean or logits)."""
        if self.outputs_logits:
            return losses.bernoulli_nll(x, out)  # Kingma & Welling 2014, App. C.1
        return losses.gaussian_nll(x, out, self._log_std())  # Kingma & Welling 2014, App. C.2

    def _terms(self, x: Tensor, ctx: StepContext | None, eps: Tensor | None = None) -> dict[str, Tensor]:
        with ctx.autocast() if ctx is not None else contextlib.nullcontext():
            mu, logvar = self.posterior(x)  # [B, latent] each
            if eps is None:
                eps = torch.randn_like(mu)
            z = mu + torch.exp(0.5 * logvar) * eps  # reparameterisation (Kingma & Welling 2014, §2.4)
            out = self.decoder(z).float()  # [B, C, H, W]
        x = x.float()
        recon = self.recon_nll(x, out)  # [B]
        kl = losses.kl_diag_normal_std_normal(mu, logvar)  # [B], Kingma & Welling 2014, App. B
        mean = torch.sigmoid(out) * 2 - 1 if self.outputs_logits else out
        mse = losses.squared_error_per_image(x, mean) / self.num_pixels  # [B]
        return {"recon": recon, "kl": kl, "mse": mse}

    def _scalars(self, t: dict[str, Tensor]) -> dict[str, Tensor]:
        d = self.num_pixels
        recon, kl = t["recon"].mean().detach(), t["kl"].mean().detach()
        nelbo = recon + kl
        bpd = nelbo / (d * math.log(2.0)) + (0.0 if self.outputs_logits else LOG2_BINS)
        out = {
            "recon_per_image": recon,
            "kl_per_image": kl,
            "elbo_per_image": -nelbo,
            "recon_per_pixel": recon / d,
            "mse_per_pixel": t["mse"].mean().detach(),
            "bits_per_dim": bpd,
        }
        if not self.outputs_logits:
            out["obs_std"] = self._log_std().exp().detach()
        return out

    def train_step(self, batch: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        t = self._terms(batch, ctx)
        w = losses.kl_weight(self.config.beta, ctx.step, self.config.kl_warmup_steps)
        loss = (t["recon"] + w * t["kl"]).mean()  # negative β-ELBO per image, batch mean
        grad_norm = ctx.optimize("ae", loss)
        return {"loss": loss.detach(), **self._scalars(t), "kl_weight": torch.tensor(w),
                "grad_norm": grad_norm.detach()}

    @torch.no_grad()
    @in_eval_mode
    def eval_step(self, batch: Tensor) -> dict[str, Tensor]:
        """``nelbo_per_image`` first (lower is better), one posterior sample with a fixed noise seed."""
        gen = torch.Generator().manual_seed(0)
        eps = torch.randn(batch.shape[0], self.latent_dim, generator=gen).to(batch.device)
        s = self._scalars(self._terms(batch, None, eps))
        return {"nelbo_per_image": -s["elbo_per_image"], **s}
