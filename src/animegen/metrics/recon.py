"""Reconstruction quality of models with an encoder (AE, VAE) on held-out images.

* MSE on images scaled to [0, 1];
* PSNR = 10·log10(1 / MSE) per image (data range 1), averaged over images (∞ for a perfect copy);
* SSIM (Wang et al. 2004, "Image quality assessment: from error visibility to structural
  similarity"): 11×11 Gaussian window, σ = 1.5, K₁ = 0.01, K₂ = 0.03, data range 1, computed per
  channel over the "valid" part of the image (no padding, as the authors' MATLAB code), averaged;
* the model's own ``eval_step`` scalars (e.g. a VAE's ELBO / NLL), averaged over batches weighted
  by batch size.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from animegen.metrics.common import MetricError


def _as_unit(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``[N, H, W, C]`` → float64 ``[N, C, H, W]`` in [0, 1]; float tensors ``[N, C, H, W]`` in [-1, 1]
    likewise."""
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise MetricError(f"expected uint8 images, got {images.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).double() / 255.0
        return t
    return (images.detach().double().cpu().clamp(-1, 1) + 1) / 2


def mse(a, b) -> np.ndarray:
    """Per-image mean squared error on the [0, 1] scale ``[N]``."""
    x, y = _as_unit(a), _as_unit(b)
    if x.shape != y.shape:
        raise MetricError(f"image shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    return ((x - y) ** 2).mean(dim=(1, 2, 3)).numpy()


def psnr(a, b) -> np.ndarray:
    """Per-image PSNR in dB (data range 1) ``[N]``; ``inf`` where the images are identical."""
    m = mse(a, b)
    with np.errstate(divide="ignore"):
        return np.where(m > 0, 10.0 * np.log10(1.0 / np.maximum(m, 1e-300)), np.inf)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 2-D Gaussian ``[size, size]`` (float64)."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(a, b, window: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> np.ndarray:
    """Per-image SSIM ``[N]`` (mean of the SSIM map over the valid region and channels)."""
    x, y = _as_unit(a), _as_unit(b)
    if x.shape != y.shape:
        raise MetricError(f"image shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    n, c, h, w = x.shape
    if h < window or w < window:
        raise MetricError(f"SSIM needs images of at least {window}×{window} px, got {h}×{w}")
    win = gaussian_window(window, sigma).expand(c, 1, window, window).contiguous()  # [C, 1, k, k]

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, win, groups=c)  # [N, C, H-k+1, W-k+1]

    c1, c2 = (k1 * 1.0) ** 2, (k2 * 1.0) ** 2
    mu_x, mu_y = filt(x), filt(y)
    sxx = filt(x * x) - mu_x**2
    syy = filt(y * y) - mu_y**2
    sxy = filt(x * y) - mu_x * mu_y
    smap = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return smap.mean(dim=(1, 2, 3)).numpy()


@torch.no_grad()
def reconstruction_metrics(model, images: np.ndarray, batch_size: int = 64) -> dict:
    """MSE / PSNR / SSIM of ``model.reconstruct`` on uint8 ``[N, H, W, C]`` images, plus ``eval_step`` scalars.

    Returns ``{"n", "mse", "psnr", "ssim", "eval": {name: mean}}``; PSNR is averaged over finite
    values (``psnr_inf`` counts perfect reconstructions).
    """
    from animegen.imaging import to_tensor

    if not getattr(model, "has_encoder", False):
        raise MetricError(f"{getattr(model, 'family', type(model).__name__)} has no encoder: no reconstruction metrics")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    mses, psnrs, ssims = [], [], []
    sums: dict[str, float] = {}
    total = 0
    try:
        for i in range(0, len(images), batch_size):
            batch = images[i : i + batch_size]
            x = to_tensor(batch).to(device)  # [B, C, H, W] in [-1, 1]
            r = model.reconstruct(x).float().cpu()
            mses.append(mse(x.cpu(), r))
            psnrs.append(psnr(x.cpu(), r))
            ssims.append(ssim(x.cpu(), r) if min(batch.shape[1:3]) >= 11 else np.full(len(batch), np.nan))
            for k, v in (model.eval_step(x) or {}).items():
                val = float(v.detach().float().mean().item()) if torch.is_tensor(v) else float(v)
                sums[k] = sums.get(k, 0.0) + val * len(batch)
            total += len(batch)
    finally:
        model.train(was_training)
    p = np.concatenate(psnrs)
    finite = p[np.isfinite(p)]
    return {
        "n": total,
        "mse": float(np.concatenate(mses).mean()),
        "psnr": float(finite.mean()) if finite.size else math.inf,
        "psnr_inf": int((~np.isfinite(p)).sum()),
        "ssim": float(np.nanmean(np.concatenate(ssims))),
        "eval": {k: v / max(total, 1) for k, v in sums.items()},
    }
