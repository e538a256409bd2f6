"""Variational autoencoder (family ``"vae"``; Kingma & Welling 2014), on the backbone shared with the AE.

Objective, per image (x has D = C·H·W pixels in [-1, 1])::

    recon = −log p(x | z),  z = μ + σ ⊙ ε, ε ~ N(0, I)       (reparameterisation, K&W 2014 §2.4)
    kl    = KL(q(z | x) || N(0, I)), closed form            (K&W 2014, App. B)
    loss  = recon + β_t · kl                                (β-VAE, Higgins et al. 2017; β_t warms up linearly)
            + λ · MMD(codes of the batch, N(0, I) draws)    (optional, ``mmd_weight``: InfoVAE, Zhao et al. 2019)
    elbo  = −(recon + kl)                                   (a true lower bound on log p(x): β = 1, full Gaussian
                                                             log-density including log σ and ½ log 2π)

Likelihoods (``likelihood``):

* ``gaussian``: p(x|z) = N(decoder(z), σ² I). σ (``obs_std``, in [-1, 1] pixel units) is the knob that
  balances reconstruction against KL (seed article 001: "set the observation std as a hyperparameter";
  a smaller σ = sharper reconstructions, a less regular latent space). ``learn_obs_std`` learns one
  shared log σ by gradient descent (σ-VAE, Rybkin et al. 2021), which converges to σ² = MSE.
  ``calibrate_obs_std`` sets σ analytically instead: σ² = the mean squared error of the current batch
  (detached), the maximiser of the Gaussian likelihood over a shared σ (Rybkin et al. 2021, §3 "optimal
  σ", eq. 5). With it recon = D/2 · (1 + log 2π σ²), so the reconstruction term weighs each image by
  1/(2σ²) where σ is the model's own error, and the KL can no longer be drowned by a σ far below it (seed
  001's balance, with no hand-set factor on the KL). The σ is **shared** by all pixels and all images of
  the batch, not per image: a per-image σ lets the model pay for a badly reconstructed (e.g. unusually
  coloured) face by raising that face's σ, i.e. it down-weights exactly the rare hair and eye colours;
  a shared σ keeps one exchange rate between nats of KL and squared error for every face. A running
  mean of it (``obs_std_momentum``) is kept in the ``log_obs_std`` buffer for validation (a fixed σ, so
  the validation ELBO is a true bound), logging (``obs_std``) and ``sample --observation``.
* ``bernoulli``: the decoder outputs logits; targets are (x + 1) / 2 (MNIST; pytorch/examples VAE).

Logged (all with the sign they carry in their name, per image = summed over pixels / latent dims):
``loss`` (the optimised β-weighted objective), ``recon_per_image`` (−log p(x|z), nats), ``kl_per_image`` (nats, ≥ 0),
``elbo_per_image`` (= −(recon + kl), higher is better), ``recon_per_pixel`` = recon / D, ``mse_per_pixel``
(comparable with the AE), ``bits_per_dim`` (−ELBO in bits per pixel; for the Gaussian, +log2(128) turns the
density on [-1, 1] into a probability of the 8-bit value — a bound with uniform dequantisation, Theis et al. 2016),
``kl_weight`` (β_t), ``obs_std``, ``mmd`` (with ``mmd_weight`` > 0).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from animegen.errors import ConfigError
from animegen.latent.gmm import GMMFit, fit_gmm
from animegen.latent.prior import encode_all, fit_gaussian
from animegen.latent.stage2 import Stage2VAE, fit_stage2
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
    rgb_skips: bool = False
    """Decoder: also map every lower-resolution block to RGB (1×1 conv) and sum the upsampled maps into the output
    (StyleGAN2's skip generator), a short path from the code to the image's coarse colours."""
    likelihood: Literal["gaussian", "bernoulli"] = "gaussian"
    obs_std: float = 0.1
    """Gaussian observation std σ in [-1, 1] pixel units (0.1 ≈ 13 grey levels); the initial value if learned."""
    learn_obs_std: bool = False
    """Learn one shared log σ with the other parameters (σ-VAE)."""
    calibrate_obs_std: bool = False
    """Set σ² to the batch's mean squared error at every step (analytic σ-VAE, Rybkin et al. 2021); ``obs_std``
    is then only the starting value of the running σ used for validation and ``--observation`` sampling."""
    obs_std_momentum: float = 0.99
    """Running-σ update with ``calibrate_obs_std``: σ²_run ← m·σ²_run + (1 − m)·MSE_batch."""
    min_obs_std: float = 1e-3
    """Lower bound on σ (learned or calibrated), so a perfectly reconstructed batch cannot send log σ to −∞."""
    input_noise: float = 0.0
    """Std of Gaussian noise added to the encoder's input only while training (a denoising VAE; Vincent et al.
    2008 for autoencoders, Im et al. 2017 for VAEs); the decoder still reconstructs the clean image. 0: off."""
    prior_components: int = 0
    """Components of the Gaussian mixture fitted to the training codes at export (``sample --prior gmm``;
    Ghosh et al. 2020); 0: no mixture (``configs/vae-faces.toml`` uses 16). The trainer refuses a training
    split with fewer images than this."""
    prior_covariance: Literal["full", "diag"] = "full"
    """Covariance of each mixture component."""
    prior_stage2: int = 0
    """Hidden units of a second-stage VAE fitted to the training codes at export (``sample --prior stage2``; Dai &
    Wipf 2019, :mod:`animegen.latent.stage2`); 0: none."""
    beta: float = 1.0
    """Weight of the KL term (β-VAE); 1 is the ELBO."""
    kl_warmup_steps: int = 0
    """Ramp the KL weight linearly from 0 to β over this many steps; 0 disables."""
    mmd_weight: float = 0.0
    """Weight λ of an MMD term between each batch's codes and as many N(0, I) draws (InfoVAE, Zhao et al. 2019;
    WAE-MMD, Tolstikhin et al. 2018): it pulls the aggregate posterior, not each q(z|x), onto the prior that
    ``sample --prior standard`` decodes from; 0 disables. The loss is then no longer the (β-)ELBO."""
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW)."""


def calibrated_log_std(target: Tensor, pred: Tensor, floor: float = 1e-3) -> Tensor:
    """log σ* with σ*² = mean (target − pred)², detached and floored: the maximum-likelihood σ shared by every
    element of the batch (σ-VAE "optimal σ", Rybkin et al. 2021, eq. 5)."""
    mse = (target.float() - pred.float()).detach().pow(2).mean()
    return 0.5 * mse.clamp(min=floor ** 2).log()


class MixturePrior(EncoderDecoderModel):
    """Base of the encoder-decoder families with a prior of their own (VAE, VAE-GAN): a Gaussian mixture fitted
    to the training codes at export (:mod:`animegen.latent.gmm`, Ghosh et al. 2020), stored as buffers beside the
    fitted Gaussian, sampled by ``prior="gmm"``. Checkpoints written before it existed load without it
    (``optional_state``)."""

    MIXTURE_STATE = ("gmm_weights", "gmm_means", "gmm_scale_tril", "gmm_count")
    optional_state: ClassVar[tuple[str, ...]] = (
        EncoderDecoderModel.optional_state + MIXTURE_STATE)  # type: ignore[assignment]
    prior_mean: Tensor
    prior_scale_tril: Tensor
    prior_count: Tensor
    gmm_weights: Tensor
    gmm_means: Tensor
    gmm_scale_tril: Tensor
    gmm_count: Tensor
    stage2_count: Tensor

    def __init__(self, config, spec):
        super().__init__(config, spec)
        k, z = config.prior_components, config.latent_dim
        self.register_buffer("gmm_weights", torch.full((k,), 1.0 / max(k, 1)))  # [K]; K = 0: no mixture
        self.register_buffer("gmm_means", torch.zeros(k, z))  # [K, z]
        self.register_buffer("gmm_scale_tril", torch.eye(z).expand(k, z, z).clone())  # [K, z, z]
        self.register_buffer("gmm_count", torch.zeros((), dtype=torch.long))  # 0 = not fitted
        self._stage2_names: list[str] = []
        self._stage2_cache: list[Stage2VAE] = []  # a plain list: the rebuilt network is not a submodule
        hidden = getattr(config, "prior_stage2", 0)
        if hidden > 0:  # the second-stage VAE's weights as fixed-shape buffers; stage2_count 0 = not fitted
            for name, t in Stage2VAE(z, hidden).state().items():
                self.register_buffer(f"stage2_{name}", torch.zeros_like(t))
                self._stage2_names.append(name)
            self.register_buffer("stage2_count", torch.zeros((), dtype=torch.long))

    def stage2_prior(self) -> Stage2VAE | None:
        if not self._stage2_names or int(self.stage2_count) < 1:
            return None
        if not self._stage2_cache:  # rebuilt from the buffers once (they change only in fit_stage2_prior / loading)
            state = {n: getattr(self, f"stage2_{n}").float().cpu() for n in self._stage2_names}
            self._stage2_cache.append(Stage2VAE.from_state(self.config.latent_dim, self.config.prior_stage2, state))
        return self._stage2_cache[0]

    def _load_from_state_dict(self, *args, **kwargs):
        self._stage2_cache.clear()  # new buffers: rebuild the second stage on next use
        super()._load_from_state_dict(*args, **kwargs)

    def fit_stage2_prior(self, codes: Tensor, seed: int = 0) -> Stage2VAE:
        """Train (and store) the second-stage VAE on ``codes`` ``[N, z]``."""
        try:
            with torch.enable_grad():
                s2 = fit_stage2(codes, hidden=self.config.prior_stage2, seed=seed)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        with torch.no_grad():
            for name, t in s2.state().items():
                getattr(self, f"stage2_{name}").copy_(t)
            self.stage2_count.fill_(codes.shape[0])
        self._stage2_cache[:] = [s2]
        return s2

    def mixture_prior(self) -> GMMFit | None:
        if int(self.gmm_count) < 1:
            return None
        return GMMFit(self.gmm_weights, self.gmm_means, self.gmm_scale_tril, int(self.gmm_count))

    def check_training_set(self, n_codes: int) -> None:
        """Called by the trainer before the first step: the mixture needs at least one code per component."""
        k = self.config.prior_components
        if 0 < k and n_codes < k:
            raise ConfigError(f"model.prior_components={k} but the mixture would be fitted to only {n_codes} "
                              f"code{'' if n_codes == 1 else 's'} "
                              "(training images, their mirrors with data.hflip, at most train.prior_fit_codes); "
                              "lower model.prior_components")

    @torch.no_grad()
    def fit_mixture(self, codes: Tensor, seed: int = 0) -> GMMFit:
        """Fit (and store) the mixture on ``codes`` ``[N, z]``; a one-line :class:`ConfigError` if it cannot."""
        c = self.config
        try:
            fit = fit_gmm(codes, c.prior_components, c.prior_covariance, seed=seed)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.gmm_weights.copy_(fit.weights)
        self.gmm_means.copy_(fit.means)
        self.gmm_scale_tril.copy_(fit.scale_tril)
        self.gmm_count.fill_(fit.count)
        return fit

    def clear_costly_priors(self) -> None:
        """Mark the mixture and the second stage as not fitted (their buffers no longer match the weights)."""
        self.gmm_count.zero_()
        if self._stage2_names:
            self.stage2_count.zero_()
        self._stage2_cache.clear()

    @torch.no_grad()
    def fit_priors(self, batches, costly: bool = True) -> Tensor:
        """Encode ``batches`` once (eval mode), fit and store the Gaussian and, with ``costly``, the mixture and
        the second stage (minutes of CPU at tens of thousands of codes; without it they are marked not fitted);
        returns the codes."""
        was = self.training
        self.eval()
        try:
            codes = encode_all(self.encode, batches)  # [N, z]
        finally:
            self.train(was)
        if codes.shape[0] < 2:  # no covariance to fit: the checkpoint carries no prior (sampling uses N(0, I))
            self.prior_count.zero_()
            self.clear_costly_priors()
            return codes
        fit = fit_gaussian(codes)
        self.prior_mean.copy_(fit.mean)
        self.prior_scale_tril.copy_(fit.scale_tril)
        self.prior_count.fill_(fit.count)
        if not costly:
            self.clear_costly_priors()
            return codes
        if self.config.prior_components > 0:
            self.fit_mixture(codes)
        if self._stage2_names:
            self.fit_stage2_prior(codes)
        return codes

    def prepare_export(self, batches, averaged: bool, costly: bool = True) -> None:
        self.fit_priors(batches(), costly)


def validate_vae_config(c) -> None:
    """One-line :class:`ConfigError` for VAE settings that cannot train (checked when the model is built, i.e.
    before the first step)."""
    if c.obs_std <= 0:
        raise ConfigError(f"model.obs_std must be > 0 (the Gaussian observation std), got {c.obs_std}")
    if c.min_obs_std <= 0:
        raise ConfigError(f"model.min_obs_std must be > 0, got {c.min_obs_std}")
    if c.beta < 0:
        raise ConfigError(f"model.beta must be >= 0 (the KL weight), got {c.beta}")
    if c.kl_warmup_steps < 0:
        raise ConfigError(f"model.kl_warmup_steps must be >= 0, got {c.kl_warmup_steps}")
    if c.learn_obs_std and c.calibrate_obs_std:
        raise ConfigError("model.learn_obs_std and model.calibrate_obs_std both set σ; choose one")
    if not 0 <= c.obs_std_momentum < 1:
        raise ConfigError(f"model.obs_std_momentum must be in [0, 1), got {c.obs_std_momentum}")
    if c.mmd_weight < 0:
        raise ConfigError(f"model.mmd_weight must be >= 0 (the MMD term's weight), got {c.mmd_weight}")
    if c.input_noise < 0:
        raise ConfigError(f"model.input_noise must be >= 0 (a noise std), got {c.input_noise}")
    if c.prior_components < 0:
        raise ConfigError(f"model.prior_components must be >= 0 (0: no mixture), got {c.prior_components}")
    if c.prior_stage2 < 0:
        raise ConfigError(f"model.prior_stage2 must be >= 0 (0: no second-stage VAE), got {c.prior_stage2}")


class VAE(MixturePrior):
    family = "vae"
    best_metric = "val/nelbo_per_image"
    config_cls = VAEConfig

    def __init__(self, config: VAEConfig, spec):
        validate_vae_config(config)
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

    @torch.no_grad()
    def observe(self, mean: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Draw x ~ p(x | z) ``[B, C, H, W]`` given the decoded means ``mean`` (``decode``/``sample`` output in [-1, 1])
        instead of returning the mean itself. Gaussian: mean + σ·ε with the model's σ (fixed, learned, or the
        running calibrated one), clamped to [-1, 1]: the picture plus the pixel noise the model believes in.
        Bernoulli: every pixel is 0 or 1 with probability (mean + 1) / 2, mapped to {-1, 1}: a binarised image
        (MNIST-style strokes without grey levels)."""
        if self.outputs_logits:
            p = ((mean.float() + 1.0) * 0.5).clamp(0.0, 1.0).cpu()  # [B, C, H, W]
            return (torch.bernoulli(p, generator=generator) * 2.0 - 1.0).to(mean)
        eps = torch.randn(mean.shape, generator=generator).to(mean)  # [B, C, H, W]
        return (mean + self._log_std().exp().to(mean) * eps).clamp(-1.0, 1.0)

    def _log_std(self) -> Tensor:
        return self.log_obs_std.float().clamp(min=math.log(self.config.min_obs_std))

    def _batch_log_std(self, x: Tensor, out: Tensor) -> Tensor:
        """The calibrated σ for this batch (Rybkin et al. 2021, eq. 5): log √(mean (x − x̂)²), detached, floored;
        also moves the running σ kept in ``log_obs_std``."""
        log_std = calibrated_log_std(x, out, self.config.min_obs_std)  # one σ for all pixels and images
        m = self.config.obs_std_momentum
        run = m * torch.exp(2.0 * self.log_obs_std.float()) + (1.0 - m) * torch.exp(2.0 * log_std)
        self.log_obs_std.copy_((0.5 * run.log()).to(self.log_obs_std.dtype))
        return log_std

    def recon_nll(self, x: Tensor, out: Tensor, log_std: Tensor | None = None) -> Tensor:
        """−log p(x | z) per image ``[B]`` for decoder output ``out`` (mean or logits); ``log_std`` overrides σ."""
        if self.outputs_logits:
            return losses.bernoulli_nll(x, out)  # Kingma & Welling 2014, App. C.1
        return losses.gaussian_nll(x, out, self._log_std() if log_std is None else log_std)  # K&W 2014, App. C.2

    def _terms(self, x: Tensor, ctx: StepContext | None, eps: Tensor | None = None) -> dict[str, Tensor]:
        noisy = x
        if ctx is not None and self.config.input_noise > 0:  # denoising: corrupt the encoder's input only
            noisy = x + self.config.input_noise * torch.randn_like(x)  # [B, C, H, W]
        with ctx.autocast() if ctx is not None else contextlib.nullcontext():
            mu, logvar = self.posterior(noisy)  # [B, latent] each
            if eps is None:
                eps = torch.randn_like(mu)
            z = mu + torch.exp(0.5 * logvar) * eps  # reparameterisation (Kingma & Welling 2014, §2.4)
            out = self.decoder(z).float()  # [B, C, H, W]
        x = x.float()
        log_std = None
        if ctx is not None and self.config.calibrate_obs_std and not self.outputs_logits:
            log_std = self._batch_log_std(x, out)  # σ² = batch MSE (Rybkin et al. 2021)
        recon = self.recon_nll(x, out, log_std)  # [B]
        kl = losses.kl_diag_normal_std_normal(mu, logvar)  # [B], Kingma & Welling 2014, App. B
        mean = torch.sigmoid(out) * 2 - 1 if self.outputs_logits else out
        mse = losses.squared_error_per_image(x, mean) / self.num_pixels  # [B]
        out_t = {"recon": recon, "kl": kl, "mse": mse, "z": z.float()}
        if log_std is not None:
            out_t["log_std"] = log_std  # the calibrated σ this batch used (0-d)
        return out_t

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
            out["obs_std"] = t.get("log_std", self._log_std()).exp().detach()
        return out

    def train_step(self, batch: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        t = self._terms(batch, ctx)
        w = losses.kl_weight(self.config.beta, ctx.step, self.config.kl_warmup_steps)
        loss = (t["recon"] + w * t["kl"]).mean()  # negative β-ELBO per image, batch mean
        extra: dict[str, Tensor] = {}
        if self.config.mmd_weight > 0:
            mmd = losses.mmd_imq(t["z"], torch.randn_like(t["z"]))  # Tolstikhin et al. 2018; Zhao et al. 2019
            loss = loss + self.config.mmd_weight * mmd
            extra["mmd"] = mmd.detach()
        grad_norm = ctx.optimize("ae", loss)
        return {"loss": loss.detach(), **self._scalars(t), "kl_weight": torch.tensor(w),
                "grad_norm": grad_norm.detach(), **extra}

    @torch.no_grad()
    @in_eval_mode
    def eval_step(self, batch: Tensor) -> dict[str, Tensor]:
        """``nelbo_per_image`` first (lower is better), one posterior sample with a fixed noise seed."""
        gen = torch.Generator().manual_seed(0)
        eps = torch.randn(batch.shape[0], self.latent_dim, generator=gen).to(batch.device)
        s = self._scalars(self._terms(batch, None, eps))
        return {"nelbo_per_image": -s["elbo_per_image"], **s}
