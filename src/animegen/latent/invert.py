"""GAN inversion: find latent codes whose generations match given images.

    model = animegen.load("runs/dcgan-1/final.safetensors")
    res = invert(model, images)            # images [K, C, H, W] in [-1, 1]
    res.z                                   # [K, latent_dim]; res.pixel_mse, res.feature_distance: [K]

Method: optimisation-based inversion (Zhu et al. 2016, "Generative Visual Manipulation on the Natural
Image Manifold", §3.1; Creswell & Bharath 2018, "Inverting the Generator of a Generative Adversarial
Network"): minimise over z

    L(z) = w_pix · mean‖G(z) − x‖²  +  w_feat · Σ_l mean‖φ_l(G(z)) − φ_l(x)‖² / mean‖φ_l(x)‖²  +  w_prior · mean(ε²)

with Adam on z for a fixed number of steps (cosine-decayed learning rate), from several random starts at
once (Lipton & Tripathi 2017, "Precise Recovery of Latent Vectors from Generative Adversarial Networks":
restarts escape poor local minima); each image keeps the restart with the lowest final loss. Every image
and restart is one row of a single batch: the loss is a sum of per-row terms and Adam is per-element,
so rows never influence each other, and the networks stay in eval mode (BatchNorm uses running stats).

Feature loss φ: the model's *own* convolutional features, never a downloaded network:

* GANs: the discriminator's activations after each LeakyReLU (everything before its last layer). D was
  trained on exactly this kind of image to tell faces apart from non-faces, so its features measure what
  the generator has to get right, and cost one small forward pass; using discriminator features as a
  learned similarity follows Larsen et al. 2016 ("Autoencoding beyond pixels using a learned similarity
  metric", §2.2). Pixel MSE alone favours blurry averages (the same paper), so both terms are used.
* AE/VAE: the encoder's convolutional blocks (its learned image features). The first restart starts at
  the encoder's code, the others at random codes of the prior.

Codes are optimised as ε with ``z = μ + L ε`` for the AE's fitted Gaussian prior (:mod:`animegen.latent.prior`)
and ``z = ε`` otherwise, so the prior term ``mean(ε²)`` (the negative log-density of N(0, I) up to a
constant, per dimension) keeps codes where the prior puts its mass in every family.

Distances reported per image: ``pixel_mse`` on the [0, 1] scale (:func:`animegen.metrics.recon.mse`) and
``feature_distance`` (the feature term above, unweighted).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from animegen.errors import AnimegenError


@dataclass
class InvertConfig:
    """Inversion settings (the CLI's ``--steps``, ``--restarts``, ``--seed`` and friends)."""

    steps: int = 200
    """Adam steps per restart (the fixed budget)."""
    restarts: int = 4
    """Random starts per image; the best final loss is kept."""
    lr: float = 0.05
    """Adam learning rate on ε, cosine-decayed to a tenth over the steps."""
    pixel_weight: float = 1.0
    feature_weight: float = 1.0
    prior_weight: float = 1e-3
    """Weight of mean(ε²); 0 disables the prior regulariser."""
    seed: int = 0
    """Seed of the random starts."""

    def validate(self) -> InvertConfig:
        if self.steps < 1:
            raise AnimegenError(f"--steps must be >= 1, got {self.steps}")
        if self.restarts < 1:
            raise AnimegenError(f"--restarts must be >= 1, got {self.restarts}")
        if not self.lr > 0:
            raise AnimegenError(f"the learning rate must be > 0, got {self.lr}")
        for name in ("pixel_weight", "feature_weight", "prior_weight"):
            if getattr(self, name) < 0:
                raise AnimegenError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.pixel_weight == 0 and self.feature_weight == 0:
            raise AnimegenError("pixel_weight and feature_weight cannot both be 0")
        return self


@dataclass
class InversionResult:
    z: Tensor  # [K, latent_dim] best code per image
    generated: Tensor  # [K, C, H, W] G(z) in [-1, 1]
    pixel_mse: np.ndarray  # [K] on the [0, 1] scale
    feature_distance: np.ndarray  # [K]
    loss: np.ndarray  # [K] final loss of the kept restart
    restart_losses: np.ndarray  # [R, K] final loss of every restart
    best_restart: np.ndarray  # [K] which restart was kept
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.z.shape[0])


# ----------------------------------------------------------------------------- features


def feature_network(model) -> nn.Sequential | None:
    """The model's own feature extractor (module doc): D's body for GANs, the encoder's blocks for AE/VAE."""
    disc = getattr(model, "discriminator", None)
    if disc is not None and isinstance(getattr(disc, "net", None), nn.Sequential):
        return disc.net
    enc = getattr(model, "encoder", None)
    for attr in ("features", "net"):
        seq = getattr(enc, attr, None)
        if isinstance(seq, nn.Sequential):
            return seq
    return None


_ACTIVATIONS = (nn.LeakyReLU, nn.ReLU)


def activations(net: nn.Sequential | None, x: Tensor) -> list[Tensor]:
    """Outputs ``[B, ...]`` of every top-level activation or block of ``net`` (its final layer excluded)."""
    if net is None:
        return []
    feats = []
    children = list(net.children())
    for layer in children[:-1]:
        x = layer(x)
        if isinstance(layer, (*_ACTIVATIONS, nn.Sequential)):
            feats.append(x)
    if isinstance(children[-1], nn.Sequential):  # the encoder's last conv block is a feature too
        feats.append(children[-1](x))
    return feats


def feature_distance(fa: list[Tensor], fb: list[Tensor]) -> Tensor:
    """Per-row ``[B]``: mean over layers of mean‖a − b‖² / mean‖b‖² (each layer counts equally)."""
    if not fa:
        return torch.zeros(0)
    terms = []
    for a, b in zip(fa, fb, strict=True):
        num = (a - b).pow(2).flatten(1).mean(1)  # [B]
        den = b.pow(2).flatten(1).mean(1).clamp_min(1e-8)  # [B]
        terms.append(num / den)
    return torch.stack(terms).mean(0)  # [B]


@torch.no_grad()
def distances(model, generated: Tensor, targets: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``(pixel_mse [K], feature_distance [K])`` between images ``[K, C, H, W]`` in [-1, 1] (module doc)."""
    from animegen.metrics.recon import mse

    net = feature_network(model)
    dev = _device(model)
    fd = feature_distance(activations(net, generated.to(dev)), activations(net, targets.to(dev)))
    feat = fd.float().cpu().numpy() if fd.numel() else np.full(len(targets), np.nan)
    return mse(generated.cpu(), targets.cpu()), feat


# ----------------------------------------------------------------------------- inversion


def _prior_map(model) -> tuple[Tensor | None, Tensor | None]:
    """(μ, L) of the fitted prior for models that prefer it (the AE), else (None, None): z = μ + L ε."""
    if getattr(model, "prefers_fitted_prior", False):
        fit = model.fitted_prior()
        if fit is not None:
            dev = _device(model)
            return fit.mean.to(dev), fit.scale_tril.to(dev)
    return None, None


def _device(model) -> torch.device:
    return next(model.parameters()).device


def invert(model, images: Tensor, config: InvertConfig | None = None, **overrides: Any) -> InversionResult:
    """Codes ``[K, latent_dim]`` whose generations match ``images`` ``[K, C, H, W]`` in [-1, 1] (module doc).

    ``config`` / keyword ``overrides`` (e.g. ``steps=100``) set :class:`InvertConfig`. Images must already
    have the model's shape (:func:`animegen.latent.codes.model_input` converts files).
    """
    from animegen.progress import progress

    cfg = InvertConfig(**{**(asdict(config) if config else {}), **overrides}).validate()
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(model.spec.shape):
        raise AnimegenError(f"invert: images must be [K, {', '.join(map(str, model.spec.shape))}], "
                            f"got {list(images.shape)} (convert them with animegen.latent.codes.model_input)")
    k, r, d = images.shape[0], cfg.restarts, model.latent_dim
    if k == 0:
        raise AnimegenError("invert: no images given")
    dev = _device(model)
    was_training = model.training
    model.eval()
    params = [p for p in model.parameters()]
    saved_grad = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        x = images.float().to(dev)  # [K, C, H, W]
        net = feature_network(model)
        with torch.no_grad():
            target_feats = [f.repeat(r, *([1] * (f.dim() - 1))) for f in activations(net, x)]  # [R·K, ...] each
        mu, tril = _prior_map(model)
        gen = torch.Generator().manual_seed(cfg.seed)
        eps0 = torch.randn(r, k, d, generator=gen).to(dev)  # [R, K, D]
        if getattr(model, "has_encoder", False):
            with torch.no_grad():
                z_enc = model.encode(x).float()  # [K, D]
                eps0[0] = z_enc if mu is None or tril is None else torch.linalg.solve_triangular(
                    tril, (z_enc - mu).T, upper=False).T  # ε = L⁻¹ (z − μ)
        eps = eps0.reshape(r * k, d).clone().requires_grad_(True)  # [R·K, D]
        xr = x.repeat(r, 1, 1, 1)  # [R·K, C, H, W]
        opt = torch.optim.Adam([eps], lr=cfg.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps, eta_min=cfg.lr * 0.1)

        def to_z(e: Tensor) -> Tensor:
            return e if mu is None or tril is None else mu + e @ tril.T  # [R·K, D]

        def row_loss(e: Tensor) -> tuple[Tensor, Tensor]:
            g = model.decode(to_z(e))  # [R·K, C, H, W]
            loss = cfg.pixel_weight * (g - xr).pow(2).flatten(1).mean(1)  # [R·K]
            if cfg.feature_weight > 0 and net is not None:
                loss = loss + cfg.feature_weight * feature_distance(activations(net, g), target_feats)
            if cfg.prior_weight > 0:
                loss = loss + cfg.prior_weight * e.pow(2).mean(1)
            return loss, g

        with torch.enable_grad():  # callers may hold no_grad (resolve_codes does)
            for _ in progress(range(cfg.steps), desc=f"inverting {k} image(s) x {r} restart(s)", unit="step"):
                loss, _ = row_loss(eps)
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()
                opt.step()
                sched.step()
        with torch.no_grad():
            final, _ = row_loss(eps)
            losses = final.reshape(r, k)  # [R, K]
            best = losses.argmin(0)  # [K]
            idx = best * k + torch.arange(k, device=best.device)
            z = to_z(eps.detach()[idx])  # [K, D]
            generated = model.decode(z).clamp(-1, 1).float()  # [K, C, H, W]
        pix, feat = distances(model, generated, x)
    finally:
        for p, flag in zip(params, saved_grad, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)
    settings = {**asdict(cfg), "family": model.family,
                "latent": "z = mu + L eps (fitted prior)" if mu is not None else "z = eps",
                "features": _feature_name(model, net), "encoder_init": bool(getattr(model, "has_encoder", False))}
    return InversionResult(z.float().cpu(), generated.cpu(), pix, feat, losses.gather(0, best[None])[0].cpu().numpy(),
                           losses.cpu().numpy(), best.cpu().numpy(), settings)


def _feature_name(model, net) -> str:
    if net is None:
        return "none (pixel loss only)"
    return "discriminator activations" if getattr(model, "discriminator", None) is not None else "encoder blocks"


@torch.no_grad()
def random_code_distances(model, images: Tensor, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The baseline: distances from each image ``[K, C, H, W]`` to the generation of a random prior code."""
    was_training = model.training
    model.eval()
    try:
        z = model.sample_latent(len(images), generator=torch.Generator().manual_seed(seed), prior="auto")
        g = model.decode(z).clamp(-1, 1).float()  # [K, C, H, W]
        return distances(model, g, images.float())
    finally:
        model.train(was_training)
