"""A second-stage VAE on the codes: an ex-post prior that learns where the first VAE's codes are.

Dai & Wipf 2019 ("Diagnosing and Enhancing VAE Models", ICLR 2019, §4): after training, the aggregate posterior
q(z) of a VAE is not N(0, I), so N(0, I) samples land where no training code is. A second, small VAE trained on
the codes z of the training images maps q(z) back to a standard normal u; sampling is u ~ N(0, I) → the second
decoder's mean → z → the first decoder. Like the paper, the second stage has as many latent dimensions as the
codes and a learned, shared decoder variance γ (their "learnable γ", §3), so it can become sharp where the codes
are. Its MLPs are small (``hidden`` units, two layers each way) and train in seconds on a few thousand codes.

    fit = fit_stage2(codes, hidden=256)           # codes [N, z] (posterior means of training images)
    z = fit.sample(torch.randn(n, z_dim))         # [n, z] codes to decode

The weights travel in the checkpoint as flat buffers (:func:`stage2_state` / :func:`Stage2VAE.from_state`), so a
model's state dict keeps fixed shapes for a given (latent_dim, hidden).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                         nn.Linear(hidden, d_out))


class Stage2VAE(nn.Module):
    """u-VAE on codes: enc z [B, d] → (μ_u, log σ²_u) [B, d] each; dec u [B, d] → z mean [B, d]; shared log γ."""

    shift: Tensor
    scale: Tensor

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.dim, self.hidden = dim, hidden
        self.enc = _mlp(dim, hidden, 2 * dim)
        self.dec = _mlp(dim, hidden, dim)
        self.log_gamma = nn.Parameter(torch.zeros(()))  # log of the decoder std (Dai & Wipf 2019, §3)
        self.register_buffer("shift", torch.zeros(dim))  # the codes are standardised before the MLPs
        self.register_buffer("scale", torch.ones(dim))

    def loss(self, z: Tensor) -> Tensor:
        """Negative ELBO per code, batch mean: Gaussian NLL with std γ + KL(q(u|z) || N(0, I))."""
        x = (z - self.shift) / self.scale  # [B, d]
        mu, logvar = self.enc(x).chunk(2, dim=1)  # [B, d] each
        logvar = logvar.clamp(-20.0, 10.0)
        u = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterisation (Kingma & Welling 2014)
        mean = self.dec(u)  # [B, d]
        log_g = self.log_gamma.clamp(min=math.log(1e-3))
        nll = (0.5 * ((x - mean) / log_g.exp()) ** 2 + log_g + 0.5 * math.log(2 * math.pi)).sum(1)  # [B]
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)  # [B], K&W 2014, App. B
        return (nll + kl).mean()

    @torch.no_grad()
    def sample(self, eps: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Standard-normal ``eps`` ``[n, d]`` → codes ``[n, d]`` (the decoder's mean, in code units; deterministic
        given ``eps``, so ``generator`` is unused: it is there to match the mixture's ``sample``)."""
        return self.dec(eps.to(self.shift)) * self.scale + self.shift

    def state(self) -> dict[str, Tensor]:
        """The weights as ``{name: tensor}`` with '.' replaced by '_' (buffer-safe names)."""
        return {k.replace(".", "_"): v.detach().clone() for k, v in self.state_dict().items()}

    @classmethod
    def from_state(cls, dim: int, hidden: int, state: dict[str, Tensor]) -> Stage2VAE:
        m = cls(dim, hidden)
        m.load_state_dict({k: state[k.replace(".", "_")] for k in m.state_dict()})
        return m.eval()


def fit_stage2(codes: Tensor, hidden: int = 256, steps: int = 1000, batch_size: int = 256, lr: float = 1e-3,
               seed: int = 0) -> Stage2VAE:
    """Train a :class:`Stage2VAE` on ``codes`` ``[N, d]`` (N ≥ 2) with Adam; returns it in eval mode. Seeded and
    independent of the global RNG state."""
    if codes.ndim != 2 or codes.shape[0] < 2:
        raise ValueError(f"the second-stage VAE needs codes [N >= 2, z], got {list(codes.shape)}")
    x = codes.detach().float().cpu()
    if not torch.isfinite(x).all():
        raise ValueError("the second-stage VAE: the codes contain NaN/inf")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        m = Stage2VAE(x.shape[1], hidden)
        m.shift.copy_(x.mean(0))
        m.scale.copy_(x.std(0).clamp_min(1e-4))
        opt = torch.optim.Adam(m.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        g = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            idx = torch.randint(0, x.shape[0], (min(batch_size, x.shape[0]),), generator=g)
            loss = m.loss(x[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return m.eval()


def stage2_nll(model: Stage2VAE, codes: Tensor) -> float:
    """Mean negative ELBO of ``codes`` under the second stage (one posterior sample per code; lower is better)."""
    with torch.no_grad():
        return float(model.loss(codes.float()))

