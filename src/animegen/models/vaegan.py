"""VAE-GAN family (``"vaegan"``; Larsen et al. 2016, "Autoencoding beyond pixels using a learned similarity metric").

A VAE whose decoder is also a GAN generator, and whose reconstruction error is measured in the feature space of
the GAN's discriminator instead of in pixels. For a 64 px RGB image, ``widths=(32, 64, 128, 256)``,
``d_width=32``::

    encoder   x [B, 3, 64, 64] → the VAE's conv encoder → [B, 2·latent] → (μ, log σ²) [B, latent] each
    decoder   z [B, latent] → the VAE's conv decoder (nearest ×2 + conv 3×3) → [B, 3, 64, 64] mean in [-1, 1]
    D         x → conv k4 s2 → LReLU → [B, 32, 32, 32] → (conv k4 s2 → BN → LReLU) → [B, 64, 16, 16]
              → [B, 128, 8, 8] (= Dis_l, the feature layer, ``feature_layer=3``) → [B, 256, 4, 4]
              → conv k4 → [B] logits

Losses per step (x real, x̃ = Dec(z), z ~ q(z|x); x_p = Dec(z_p), z_p ~ N(0, I))::

    L_prior     = KL(q(z|x) || N(0, I))                                   Kingma & Welling 2014, App. B
    L_llike     = −log N(Dis_l(x); Dis_l(x̃), σ_f² I)                      Larsen et al. 2016, eq. 7 (§2.2)
                  + w_pix · (−log N(x; x̃, σ_x² I))                        the "small pixel term"
    L_GAN       = log D(x) + log(1 − D(x̃)) + log(1 − D(x_p))              Larsen et al. 2016, eq. 9 (§2.2)

    encoder       β · L_prior + L_llike                                   Larsen et al. 2016, §2.2
    decoder       γ · L_llike − w_t · g · λ · L_GAN  (non-saturating: −log D(x̃) − log D(x_p); Goodfellow et al.
                  2014, §3; w_t ramps 0 → 1 over ``gan_warmup_steps``; g = ``gan_weight``; λ = 1, or with
                  ``adaptive_gan_weight`` the ratio of the two terms' gradient norms on the decoder's last layer,
                  Esser et al. 2021, eq. 7)
    discriminator −L_GAN (BCE on x vs x̃ and x_p, the two fakes averaged; DiffAugment, Zhao et al. 2020)
                  + r1_gamma/2 · ‖∇_x D(x)‖² on reals (R1, Mescheder et al. 2018, eq. 9; off by default)

σ_f and σ_x are calibrated like the σ-VAE (Rybkin et al. 2021, eq. 5): σ² = the batch's mean squared error in
that space, shared by all elements and images, detached. That makes L_llike an ELBO term with the model's own
error as its noise level, so the KL balance needs no hand-set factor (seed article 001), in feature space too.

The encoder gets its gradient from L_prior + L_llike only, not from the GAN loss (Larsen §2.2): the decoder
runs on a detached copy of z, ∂L_llike/∂z is taken with ``torch.autograd.grad`` and fed to the encoder as
``(z · ∂L_llike/∂z).sum()``, so three optimizers ``enc``, ``dec``, ``d`` each step once through
``ctx.optimize`` with no second decoder pass.

``encode`` is the posterior mean; ``sample`` decodes N(0, I) (``prior="standard"``), the Gaussian or the
mixture fitted to the training codes at export (``"fitted"``, ``"gmm"``), like the VAE.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from animegen.errors import ConfigError
from animegen.models import losses
from animegen.models.ae import in_eval_mode
from animegen.models.base import DataSpec, StepContext
from animegen.models.blocks import down_block, init_dcgan, plan_stages, stage_widths
from animegen.models.diffaug import diff_augment, parse_policy
from animegen.models.vae import MixturePrior, calibrated_log_std


@dataclass
class VAEGANConfig:
    """VAE-GAN settings (``--set model.key=value``). Encoder/decoder fields match :class:`VAEConfig`."""

    arch: Literal["conv"] = "conv"
    widths: tuple[int, ...] = (32, 64, 128, 256)
    """Encoder/decoder channel widths per stage, highest resolution first (the 64 px list)."""
    latent_dim: int = 128
    norm: Literal["batch", "group", "none"] = "batch"
    upsample: Literal["transpose", "nearest"] = "nearest"
    rgb_skips: bool = False
    """Decoder: also map every lower-resolution block to RGB and sum the upsampled maps (see :class:`VAEConfig`)."""
    d_width: int = 32
    """Discriminator base width: channels d_width · (1, 2, 4, 8, ...) per stage."""
    feature_layer: int = 0
    """Discriminator block whose output is Dis_l for the reconstruction loss; 0 = the one before the last
    (the 3rd of 4 at 64 px, as Larsen et al.; the 1st of 2 at 28 px)."""
    beta: float = 1.0
    """Weight of the KL term in the encoder's loss (β-VAE, Higgins et al. 2017); 1 is Larsen's."""
    gamma: float = 0.05
    """γ: weight of the reconstruction loss against the GAN loss in the decoder's objective (Larsen §2.2)."""
    gan_warmup_steps: int = 0
    """Ramp the GAN term of the decoder's loss linearly from 0 to 1 over this many steps (D trains from the
    start). Without it the decoder learns prior codes from the GAN alone while the GAN is still at its noise
    stage, and N(0, I) samples decode to texture while reconstructions are faces; with it the decoder first
    learns as a (feature-space) VAE, whose prior samples are already faces for the GAN to sharpen."""
    adaptive_gan_weight: bool = False
    """Scale the decoder's GAN term so that its gradient on the decoder's last layer has the norm of the
    reconstruction term's, times ``gan_weight`` (Esser et al. 2021, eq. 7): the balance follows the two losses
    instead of a hand-set γ, so neither the reconstruction (D then wins and N(0, I) samples turn to texture) nor
    the GAN (reconstructions drift from their inputs) takes the decoder over."""
    gan_weight: float = 1.0
    """Factor on the decoder's GAN term (on the adaptive weight when ``adaptive_gan_weight``)."""
    r1_gamma: float = 0.0
    """R1 penalty weight γ on real data in D's loss (Mescheder et al. 2018); 0 disables."""
    pixel_weight: float = 0.1
    """Weight of the (calibrated) pixel-space Gaussian term beside the feature-space one; 0: features only."""
    diffaug: str = "translation"
    """DiffAugment policy for every image D is trained on (Zhao et al. 2020); "" for none."""
    input_noise: float = 0.0
    """Std of Gaussian noise on the encoder's input while training (denoising, Vincent et al. 2008); 0: off."""
    prior_components: int = 0
    """Components of the Gaussian mixture fitted to the training codes at export (``sample --prior gmm``); 0: none
    (``configs/vaegan-faces.toml`` uses 16)."""
    prior_covariance: Literal["full", "diag"] = "full"
    prior_stage2: int = 0
    """Hidden units of a second-stage VAE on the training codes (``sample --prior stage2``; Dai & Wipf 2019);
    0: none."""
    lr: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.99)
    weight_decay: float = 0.0


def validate_vaegan_config(c: VAEGANConfig, spec: DataSpec) -> None:
    for name in ("beta", "gamma", "gan_weight", "r1_gamma", "pixel_weight", "input_noise", "prior_stage2"):
        if getattr(c, name) < 0:
            raise ConfigError(f"model.{name} must be >= 0, got {getattr(c, name)}")
    if c.gan_warmup_steps < 0:
        raise ConfigError(f"model.gan_warmup_steps must be >= 0, got {c.gan_warmup_steps}")
    if c.lr <= 0 or c.lr_d <= 0:
        raise ConfigError(f"model.lr and model.lr_d must be > 0, got {c.lr} and {c.lr_d}")
    n, _ = plan_stages(spec.size)
    if not 0 <= c.feature_layer <= n:
        raise ConfigError(f"model.feature_layer must be in 0..{n} at {spec.size} px (0: auto), got {c.feature_layer}")
    if c.prior_components < 0:
        raise ConfigError(f"model.prior_components must be >= 0 (0: no mixture), got {c.prior_components}")
    try:
        parse_policy(c.diffaug)
    except ValueError as exc:
        raise ConfigError(f"model.diffaug: {exc}") from None


class FeatureDiscriminator(nn.Module):
    """DCGAN-style D that also returns the activations of block ``feature_layer`` (Larsen's Dis_l)."""

    def __init__(self, spec: DataSpec, width: int, feature_layer: int):
        super().__init__()
        n, base = plan_stages(spec.size)
        ws = stage_widths(tuple(width * 2 ** i for i in range(n)), n)
        feature_layer = feature_layer or max(1, n - 1)
        blocks, cin = [], spec.channels
        for i, w in enumerate(ws):  # no norm on the first block (Radford et al. 2016)
            blocks.append(down_block(cin, w, norm="none" if i == 0 else "batch", activation="lrelu"))
            cin = w
        self.low = nn.Sequential(*blocks[:feature_layer])  # [B, ws[l-1], size/2^l, size/2^l]
        self.high = nn.Sequential(*blocks[feature_layer:])  # [B, ws[-1], base, base]
        self.head = nn.Conv2d(cin, 1, base, 1, 0)  # [B, 1, 1, 1]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        f = self.low(x)  # [B, 128, 8, 8] at 64 px, feature_layer 3
        return f, self.head(self.high(f)).flatten()  # features, [B] logits


class VAEGAN(MixturePrior):
    family = "vaegan"
    config_cls = VAEGANConfig
    is_adversarial = True

    def __init__(self, config: VAEGANConfig, spec: DataSpec):
        validate_vaegan_config(config, spec)
        super().__init__(config, spec)
        self._policy = parse_policy(config.diffaug)
        self.discriminator = FeatureDiscriminator(spec, config.d_width, config.feature_layer)
        init_dcgan(self.discriminator)

    def _encoder_outputs(self) -> int:
        return 2 * self.config.latent_dim  # μ and log σ²

    @property
    def outputs_logits(self) -> bool:
        return False

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q(z | x): ``(μ, log σ²)``, each ``[B, latent_dim]`` float32."""
        mu, logvar = self.encoder(x).float().chunk(2, dim=1)  # [B, latent] each
        return mu, logvar.clamp(-30.0, 20.0)

    def encode(self, x: Tensor) -> Tensor:
        return self.posterior(x)[0]  # posterior mean [B, latent_dim]

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        betas = tuple(c.betas)
        def adam(module: nn.Module, lr: float) -> torch.optim.Optimizer:
            return torch.optim.AdamW(module.parameters(), lr=lr, betas=betas, weight_decay=c.weight_decay)

        return {"d": adam(self.discriminator, c.lr_d), "enc": adam(self.encoder, c.lr), "dec": adam(self.decoder, c.lr)}

    def _llike(self, x: Tensor, x_rec: Tensor, f_real: Tensor, f_rec: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """L_llike per image ``[B]``: calibrated Gaussian NLL in D's feature space (Larsen et al. 2016, eq. 7)
        plus ``pixel_weight`` × the calibrated pixel NLL (σ-VAE, Rybkin et al. 2021)."""
        log_sf = calibrated_log_std(f_real, f_rec)  # σ_f² = feature MSE of the batch (detached)
        feat = losses.gaussian_nll(f_real, f_rec, log_sf)  # [B]
        out = feat
        log_sx = calibrated_log_std(x, x_rec)
        if self.config.pixel_weight > 0:
            out = out + self.config.pixel_weight * losses.gaussian_nll(x, x_rec, log_sx)  # [B]
        return out, {"feature_nll_per_image": feat.mean().detach(), "feature_std": log_sf.exp(),
                     "obs_std": log_sx.exp()}

    def train_step(self, batch: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        c, D = self.config, self.discriminator
        x = batch  # [B, C, H, W]
        b = x.shape[0]
        noisy = x + c.input_noise * torch.randn_like(x) if c.input_noise > 0 else x
        real = x.detach().requires_grad_(True) if c.r1_gamma > 0 else x  # R1 needs ∂D/∂x
        with ctx.autocast():
            mu, logvar = self.posterior(noisy)  # [B, latent] each
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterisation (K&W 2014, §2.4)
            z_d = z.detach().requires_grad_(True)  # the decoder's input: the encoder's gradient is routed by hand
            z_p = torch.randn_like(mu)  # [B, latent] prior samples
            both = self.decoder(torch.cat([z_d, z_p])).float()  # [2B, C, H, W]: x̃ then x_p
        x_rec = both[:b]  # [B, C, H, W]

        # ---- discriminator: real vs reconstructions and prior samples (Larsen et al. 2016, eq. 9). As the fast GAN
        # recipe (models/dcgan.py): real and fake images in separate BatchNorm batches, DiffAugment on every image
        # D sees, in its own update and in the decoder's (Zhao et al. 2020)
        with ctx.autocast():
            real_logits = D(self.augment(real))[1].float()  # [B]
            fake_logits = D(self.augment(both.detach()))[1].float()  # [2B]
        loss_d = losses.d_loss_nonsaturating(real_logits, fake_logits)  # Goodfellow et al. 2014, eq. 1
        extra: dict[str, Tensor] = {}
        if c.r1_gamma > 0:
            r1 = losses.r1_penalty(real_logits, real)  # Mescheder et al. 2018, eq. 9
            loss_d = loss_d + 0.5 * c.r1_gamma * r1
            extra["r1"] = r1.detach()
        grad_norm_d = ctx.optimize("d", loss_d)

        # ---- encoder and decoder, with D frozen (no weight gradients for it)
        D.requires_grad_(False)
        try:
            with ctx.autocast():
                feats = D.low(torch.cat([x, x_rec])).float()  # [2B, ...] Dis_l of x and x̃ in one BatchNorm batch
                logits_g = D(self.augment(both))[1].float()  # [2B] the fakes as D was trained on them
            llike, logs = self._llike(x.float(), x_rec, feats[:b].detach(), feats[b:])  # [B]
            kl = losses.kl_diag_normal_std_normal(mu, logvar)  # [B], Kingma & Welling 2014, App. B
            (g_z,) = torch.autograd.grad(llike.mean(), z_d, retain_graph=True)  # ∂L_llike/∂z [B, latent]
            # encoder: β·L_prior + L_llike (Larsen §2.2); the second term is a surrogate with the gradient of L_llike
            loss_enc = c.beta * kl.mean() + (z * g_z.detach()).sum()
            grad_norm_enc = ctx.optimize("enc", loss_enc)
            gan = losses.g_loss_nonsaturating(logits_g[:b]) + losses.g_loss_nonsaturating(logits_g[b:])
            w_gan = losses.kl_weight(1.0, ctx.step, c.gan_warmup_steps)  # linear 0 → 1 (the same ramp as β_t)
            lam = self._gan_balance(c.gamma * llike.mean(), gan) if c.adaptive_gan_weight else torch.tensor(1.0)
            extra["gan_balance"] = lam
            # decoder: γ·L_llike − w_t·g·λ·L_GAN (non-saturating)
            loss_dec = c.gamma * llike.mean() + (w_gan * c.gan_weight) * lam * gan
            grad_norm_dec = ctx.optimize("dec", loss_dec)
        finally:
            D.requires_grad_(True)
        mse = losses.squared_error_per_image(x.float(), x_rec.detach()) / self.num_pixels  # [B]
        d_fake = torch.sigmoid(fake_logits.detach())  # [2B]
        return {
            "loss_d": loss_d.detach(), "loss_g": loss_dec.detach(),
            "loss_enc": (c.beta * kl.mean() + llike.mean()).detach(),
            "llike_per_image": llike.mean().detach(), "kl_per_image": kl.mean().detach(),
            "gan_g": gan.detach(), "gan_weight": torch.tensor(w_gan), "mse_per_pixel": mse.mean(), **logs,
            "d_real": torch.sigmoid(real_logits.detach()).mean(), "d_fake": d_fake.mean(),
            "d_recon": d_fake[:b].mean(), "d_prior": d_fake[b:].mean(),
            "grad_norm_d": grad_norm_d.detach(), "grad_norm_enc": grad_norm_enc.detach(),
            "grad_norm_g": grad_norm_dec.detach(), **extra,
        }

    def _gan_balance(self, rec: Tensor, gan: Tensor) -> Tensor:
        """λ = ‖∇_w rec‖ / (‖∇_w gan‖ + 1e-4) on the decoder's last layer w, detached and clipped to [0, 1e4]
        (Esser et al. 2021, "Taming Transformers", eq. 7)."""
        last = self.decoder_last_weight()
        (g_rec,) = torch.autograd.grad(rec, last, retain_graph=True)
        (g_gan,) = torch.autograd.grad(gan, last, retain_graph=True)
        return (g_rec.norm() / (g_gan.norm() + 1e-4)).clamp(0.0, 1e4).detach()

    def decoder_last_weight(self) -> Tensor:
        """The weight of the decoder's output layer: the full-resolution RGB conv (``out``; with ``rgb_skips`` the
        lower-resolution RGB convs are registered after it), else its last conv or linear layer."""
        out = getattr(self.decoder, "out", None)
        if isinstance(out, nn.Conv2d):
            return out.weight
        last = [m for m in self.decoder.modules() if isinstance(m, (nn.Conv2d, nn.Linear))][-1]
        return last.weight

    def augment(self, x: Tensor) -> Tensor:
        return diff_augment(x, self._policy)

    @torch.no_grad()
    @in_eval_mode
    def eval_step(self, batch: Tensor) -> dict[str, Tensor]:
        """Held-out ``mse_per_pixel`` of the posterior-mean reconstruction (first: lower is better) and the KL."""
        with contextlib.nullcontext():
            mu, logvar = self.posterior(batch)  # [B, latent] each
            rec = self.decode(mu)  # [B, C, H, W]
        mse = losses.squared_error_per_image(batch.float(), rec) / self.num_pixels  # [B]
        kl = losses.kl_diag_normal_std_normal(mu, logvar)  # [B]
        return {"mse_per_pixel": mse.mean(), "kl_per_image": kl.mean()}
