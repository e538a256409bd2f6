"""A Gaussian fitted to an encoder's codes of the training images, to sample from instead of N(0, I).

This is the "ex-post density estimation" of Ghosh et al. 2020 (From Variational to Deterministic
Autoencoders, ICLR 2020, §4): fit a density to the codes of the training set after training, then decode
samples of it. Why it matters here:

* a plain autoencoder has no prior at all (its codes are not scaled to unit variance, so N(0, I)
  lands in one corner of its code space);
* a VAE trained with a small observation σ keeps hundreds of nats of KL: its aggregate posterior is
  wider than N(0, I) (BENCHMARKS.md measures it on the anime faces), so prior samples decode to the
  same washed-out average face.

A full-covariance Gaussian N(μ, Σ) of the posterior means is the simplest such density; sampling it is
the affine map ``z = μ + L ε`` of ε ~ N(0, I) with ``Σ = L Lᵀ``, so truncation still applies to ε.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class GaussianFit:
    mean: Tensor  # [z]
    scale_tril: Tensor  # [z, z] lower-triangular, Σ = L Lᵀ
    count: int  # codes it was fitted on

    def sample(self, eps: Tensor) -> Tensor:
        """Map standard-normal ``eps`` ``[n, z]`` to samples of N(μ, Σ) ``[n, z]``."""
        return self.mean.to(eps) + eps @ self.scale_tril.to(eps).T


def fit_gaussian(codes: Tensor, shrinkage: float = 1e-4) -> GaussianFit:
    """Mean and Cholesky factor of the covariance of ``codes`` ``[N, z]`` (N ≥ 2).

    ``shrinkage`` adds that share of the mean variance to the diagonal, so a rank-deficient covariance
    (N ≤ z, or dead latent dimensions) still factorises.
    """
    if codes.ndim != 2 or codes.shape[0] < 2:
        raise ValueError(f"fit_gaussian needs codes [N >= 2, z], got {list(codes.shape)}")
    x = codes.detach().to(torch.float64)
    if not torch.isfinite(x).all():
        raise ValueError("fit_gaussian: the codes contain NaN/inf")
    mean = x.mean(0)  # [z]
    centred = x - mean
    cov = centred.T @ centred / (x.shape[0] - 1)  # [z, z]
    ridge = shrinkage * max(float(cov.diagonal().mean()), 1e-12)
    eye = torch.eye(cov.shape[0], dtype=cov.dtype)
    scale_tril = torch.linalg.cholesky(cov + ridge * eye)
    return GaussianFit(mean.float(), scale_tril.float(), int(x.shape[0]))


@torch.no_grad()
def encode_all(encode: Callable[[Tensor], Tensor], batches: Iterable[Tensor]) -> Tensor:
    """Codes ``[N, z]`` (float32, CPU) of every batch ``[B, C, H, W]``."""
    return torch.cat([encode(b).float().cpu() for b in batches])
