"""Every loss used by the model families, as pure functions with the paper beside each formula.

Conventions: inputs are float32 (callers cast bf16 activations with ``.float()``); "per image"
means summed over all C×H×W pixels (or all latent dims), returned per sample ``[B]`` so callers
can average over the batch; GAN losses return batch means.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- VAE / AE


def kl_diag_normal_std_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL( N(μ, diag σ²) || N(0, I) ) per sample ``[B]``, in closed form (Kingma & Welling 2014, App. B):
    ``-½ Σ_j (1 + log σ_j² − μ_j² − σ_j²)``."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)


def gaussian_nll(x: Tensor, mean: Tensor, log_std: Tensor | float) -> Tensor:
    """−log N(x; mean, σ² I) per image ``[B]``, summed over pixels, σ = exp(log_std) (scalar or broadcastable).

    ``Σ_i [ (x_i − μ_i)² / (2σ²) + log σ + ½ log 2π ]``: the log σ and ½ log 2π terms make it a real
    negative log-density, so the ELBO built from it is a true bound (Kingma & Welling 2014, §3 & App. C.2;
    a learned σ is the "σ-VAE" of Rybkin et al. 2021).
    """
    log_std = torch.as_tensor(log_std, dtype=mean.dtype, device=mean.device)
    per_pixel = 0.5 * (x - mean).pow(2) * torch.exp(-2.0 * log_std) + log_std + 0.5 * LOG_2PI
    return per_pixel.flatten(1).sum(1)


def bernoulli_nll(x: Tensor, logits: Tensor) -> Tensor:
    """−log Bernoulli(t; sigmoid(logits)) per image ``[B]``, summed over pixels, with targets
    ``t = (x + 1) / 2`` in [0, 1] (Kingma & Welling 2014, App. C.1; the pytorch/examples VAE's
    ``binary_cross_entropy(..., reduction='sum')``). For non-binary targets (grey MNIST) this is a
    cross-entropy, not a normalised likelihood."""
    t = (x + 1.0) * 0.5
    return F.binary_cross_entropy_with_logits(logits, t, reduction="none").flatten(1).sum(1)


def l1_per_image(x: Tensor, y: Tensor) -> Tensor:
    return (x - y).abs().flatten(1).sum(1)


def squared_error_per_image(x: Tensor, y: Tensor) -> Tensor:
    return (x - y).pow(2).flatten(1).sum(1)


def kl_weight(beta: float, step: int, warmup_steps: int) -> float:
    """β-VAE weight (Higgins et al. 2017) times a linear KL warm-up from 0 to 1 over ``warmup_steps``
    (Bowman et al. 2016; Sønderby et al. 2016): ``β · min(1, step / warmup_steps)``."""
    if warmup_steps <= 0:
        return float(beta)
    return float(beta) * min(1.0, max(0, int(step)) / float(warmup_steps))


IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def mmd_imq(z: Tensor, prior: Tensor, scales: tuple[float, ...] = IMQ_SCALES) -> Tensor:
    """Unbiased MMD² between codes ``z`` ``[B, d]`` and prior samples ``prior`` ``[B, d]`` (0-d), with the inverse
    multiquadratic kernel ``k(a, b) = C / (C + ‖a − b‖²)``, ``C = 2·d·s``, summed over the scales ``s`` (WAE-MMD,
    Tolstikhin et al. 2018, §4 and Alg. 2; the MMD divergence of InfoVAE, Zhao et al. 2019)."""
    n, d = z.shape
    if n < 2:
        return z.new_zeros(())
    both = torch.cat([z, prior]).float()  # [2B, d]
    sq = torch.cdist(both, both).pow(2)  # [2B, 2B]
    k = torch.zeros_like(sq)  # [2B, 2B]
    for s in scales:
        k = k + 2.0 * d * s / (2.0 * d * s + sq)
    off = 1.0 - torch.eye(n, device=z.device)  # [B, B], no self-pairs
    k_zz, k_pp, k_zp = k[:n, :n], k[n:, n:], k[:n, n:]
    return ((k_zz * off).sum() + (k_pp * off).sum()) / (n * (n - 1)) - 2.0 * k_zp.mean()


# ----------------------------------------------------------------------------- GANs (logits in, mean loss out)


def d_loss_nonsaturating(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """−log D(x) − log(1 − D(G(z))) (Goodfellow et al. 2014, eq. 1), as BCE-with-logits for stability."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def g_loss_nonsaturating(fake_logits: Tensor) -> Tensor:
    """−log D(G(z)), the non-saturating generator loss (Goodfellow et al. 2014, §3)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def d_loss_hinge(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))] (Lim & Ye 2017; Miyato et al. 2018, eq. 17)."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_loss_hinge(fake_logits: Tensor) -> Tensor:
    """−E[D(G(z))] (Lim & Ye 2017; Miyato et al. 2018)."""
    return -fake_logits.mean()


def gradient_penalty(critic, real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP penalty E[(‖∇_x̂ D(x̂)‖₂ − 1)²] at x̂ = ε x + (1 − ε) G(z), ε ~ U[0, 1] per sample
    (Gulrajani et al. 2017, Alg. 1). Runs the critic in float32 with autocast off (double backward in
    bf16 is noisy), with ``create_graph=True`` so the penalty itself is differentiated."""
    b = real.shape[0]
    eps = torch.rand(b, 1, 1, 1, generator=generator, device="cpu").to(real.device)  # [B, 1, 1, 1]
    x_hat = (eps * real.detach().float() + (1.0 - eps) * fake.detach().float()).requires_grad_(True)  # [B, C, H, W]
    with torch.autocast(device_type=real.device.type, enabled=False):  # forward AND double backward in fp32
        scores = critic(x_hat).float()  # [B]
        (grads,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # [B, C, H, W]
        return (grads.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


def r1_penalty(real_logits: Tensor, real: Tensor) -> Tensor:
    """R1 = E[‖∇_x D(x)‖²] on real data (Mescheder et al. 2018, eq. 9); weight it by γ/2."""
    (grads,) = torch.autograd.grad(real_logits.float().sum(), real, create_graph=True)  # [B, C, H, W]
    return grads.float().pow(2).flatten(1).sum(1).mean()
