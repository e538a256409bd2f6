"""A Gaussian mixture fitted to an encoder's training codes: the ex-post density of Ghosh et al. 2020 (From
Variational to Deterministic Autoencoders, ICLR 2020, §4 uses a 10-component GMM), a step up from the single
Gaussian of :mod:`animegen.latent.prior` when the codes form clusters (hair colours, styles) that one Gaussian
smears into its empty middle.

Fitting is expectation-maximisation (Dempster et al. 1977; Bishop 2006, §9.2.2) in float64 with

* k-means++ initial means (Arthur & Vassilvitskii 2007) drawn with a fixed seed, so a refit is reproducible;
* ``covariance="full"`` (a Cholesky factor per component) or ``"diag"`` (per-dimension variances);
* a ridge of ``shrinkage`` × the mean code variance on every covariance diagonal, so a component that owns
  few codes (or dead latent dimensions) still factorises.

Sampling picks component k with probability π_k and maps standard-normal ε to μ_k + L_k ε, so truncation of ε
still applies.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class GMMFit:
    weights: Tensor  # [K] mixing proportions π, summing to 1
    means: Tensor  # [K, z]
    scale_tril: Tensor  # [K, z, z] lower-triangular, Σ_k = L_k L_kᵀ (diagonal for "diag")
    count: int  # codes it was fitted on

    @property
    def components(self) -> int:
        return int(self.weights.shape[0])

    def sample(self, eps: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Samples ``[n, z]``: a component per row drawn from π (with ``generator``), then μ_k + L_k ε."""
        k = torch.multinomial(self.weights.detach().float().cpu(), eps.shape[0], replacement=True,
                              generator=generator).to(eps.device)  # [n]
        means, tril = self.means.to(eps)[k], self.scale_tril.to(eps)[k]  # [n, z], [n, z, z]
        return means + (tril @ eps.unsqueeze(-1)).squeeze(-1)  # [n, z]

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) ``[N]`` under the mixture, for codes ``x`` ``[N, z]``."""
        return torch.logsumexp(component_log_prob(x.double(), self.means.double(), self.scale_tril.double())
                               + self.weights.double().clamp_min(1e-300).log(), dim=1).to(x.dtype)


def component_log_prob(x: Tensor, means: Tensor, scale_tril: Tensor) -> Tensor:
    """log N(x_n; μ_k, L_k L_kᵀ) ``[N, K]`` for ``x`` ``[N, z]``, ``means`` ``[K, z]``, ``scale_tril`` ``[K, z, z]``.

    One component at a time: memory of ``[N, z]``, not ``[K, N, z]`` (tens of thousands of codes × 16 components)."""
    z = x.shape[1]
    out = x.new_empty(x.shape[0], means.shape[0])  # [N, K]
    for k in range(means.shape[0]):
        sol = torch.linalg.solve_triangular(scale_tril[k], (x - means[k]).T, upper=False)  # [z, N]: L⁻¹(x − μ)
        log_det = scale_tril[k].diagonal().log().sum()  # ½ log |Σ_k|
        out[:, k] = -0.5 * sol.pow(2).sum(0) - log_det - 0.5 * z * LOG_2PI
    return out


def kmeans_pp(x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): ``k`` rows of ``x`` ``[N, z]``, each next one drawn with
    probability ∝ its squared distance to the nearest centre chosen so far."""
    n = x.shape[0]
    first = int(torch.randint(n, (1,), generator=generator))
    centres = [x[first]]
    d2 = (x - x[first]).pow(2).sum(1)  # [N]
    for _ in range(1, k):
        total = float(d2.sum())
        if total <= 0:  # every code coincides with a centre: pick uniformly
            idx = int(torch.randint(n, (1,), generator=generator))
        else:
            idx = int(torch.multinomial((d2 / total).float(), 1, generator=generator))
        centres.append(x[idx])
        d2 = torch.minimum(d2, (x - x[idx]).pow(2).sum(1))
    return torch.stack(centres)  # [k, z]


def fit_gmm(codes: Tensor, components: int, covariance: Literal["full", "diag"] = "full", iters: int = 100,
            tol: float = 1e-5, seed: int = 0, shrinkage: float = 1e-3) -> GMMFit:
    """EM fit of a ``components``-component Gaussian mixture to ``codes`` ``[N, z]`` (N ≥ components).

    Stops after ``iters`` iterations or when the mean log-likelihood per code improves by less than ``tol``.
    Raises ``ValueError`` (one line) for fewer codes than components, non-finite codes or a bad covariance kind.
    """
    if codes.ndim != 2:
        raise ValueError(f"fit_gmm needs codes [N, z], got {list(codes.shape)}")
    n, z = codes.shape
    if components < 1:
        raise ValueError(f"a Gaussian mixture needs >= 1 component, got {components}")
    if n < components:
        raise ValueError(f"a Gaussian mixture with {components} components needs at least {components} codes, "
                         f"got {n}; lower model.prior_components")
    if covariance not in ("full", "diag"):
        raise ValueError(f"covariance must be 'full' or 'diag', got {covariance!r}")
    x = codes.detach().to(torch.float64).cpu()
    if not torch.isfinite(x).all():
        raise ValueError("fit_gmm: the codes contain NaN/inf")
    gen = torch.Generator().manual_seed(seed)
    ridge = shrinkage * max(float(x.var(0, unbiased=False).mean()), 1e-12)
    eye = torch.eye(z, dtype=x.dtype)
    means = kmeans_pp(x, components, gen)  # [K, z]
    weights = torch.full((components,), 1.0 / components, dtype=x.dtype)
    start = torch.cov(x.T).reshape(z, z) if n > 1 else torch.zeros(z, z, dtype=x.dtype)  # [z, z]
    tril = torch.linalg.cholesky(start + ridge * eye).expand(components, z, z).clone()  # [K, z, z]
    prev = -math.inf
    for _ in range(max(1, iters)):
        # E step: responsibilities r_nk ∝ π_k N(x_n; μ_k, Σ_k)  (Bishop 2006, eq. 9.23)
        logp = component_log_prob(x, means, tril) + weights.clamp_min(1e-300).log()  # [N, K]
        norm = torch.logsumexp(logp, dim=1, keepdim=True)  # [N, 1]
        resp = (logp - norm).exp()  # [N, K]
        ll = float(norm.mean())
        # M step (Bishop 2006, eqs. 9.24–9.27)
        nk = resp.sum(0) + 1e-10  # [K]
        weights = nk / nk.sum()
        means = (resp.T @ x) / nk.unsqueeze(1)  # [K, z]
        # per component, as above: diff_k = x − μ_k is [N, z]
        if covariance == "full":
            cov = x.new_empty(components, z, z)  # [K, z, z]
            for k in range(components):
                diff = x - means[k]  # [N, z]
                cov[k] = (diff * resp[:, k:k + 1]).T @ diff
            tril = torch.linalg.cholesky(cov / nk.view(-1, 1, 1) + ridge * eye)
        else:
            var = torch.stack([resp[:, k] @ (x - means[k]).pow(2)
                               for k in range(components)]) / nk.unsqueeze(1)  # [K, z]
            tril = torch.diag_embed((var + ridge).sqrt())
        if ll - prev < tol:
            break
        prev = ll
    return GMMFit(weights.float(), means.float(), tril.float(), n)
