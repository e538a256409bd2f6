"""Adaptive augmentation probability for a GAN discriminator (Karras et al. 2020, "ADA", §3).

Every image the discriminator sees (real and generated, in the D and the G update) passes through each
transform of a DiffAugment policy (:mod:`animegen.models.diffaug`) with probability ``p``, drawn per
image and per transform. ``p`` starts at 0 and is steered by the overfitting heuristic of the paper:

    r_t = E[sign(D(x_real))]          over the real batches of the last ``interval`` steps
    p  ← clamp(p + sign(r_t − target) · images / (kimg · 1000), 0, 1)

so D's growing confidence on the training images raises ``p``, and ``p`` can go from 0 to 1 in
``kimg`` thousand images. ``p``, the running sums and the step count are buffers of this module: they
are saved with the weights, restored on resume (bit-identical), broadcast from rank 0 with BatchNorm's
statistics under data parallelism (so every rank applies rank 0's ``p``, estimated from its shard).
Steering ``p`` needs no host synchronisation; only the images drawn for a transform are transformed.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from animegen.models.diffaug import FUNCTIONS, parse_policy


class AdaptiveAugment(nn.Module):
    """Apply ``policy``'s transforms each with probability ``p``; :meth:`observe` D's logits on reals to steer it."""

    p: Tensor
    sums: Tensor

    def __init__(self, policy: str, target: float, kimg: float, interval: int = 4):
        super().__init__()
        parts = parse_policy(policy)
        if not parts:
            raise ValueError("the adaptive policy is empty; name at least one of color, translation, cutout")
        if not 0.0 < target < 1.0:
            raise ValueError(f"target must lie in (0, 1) (the paper uses 0.6), got {target}")
        if kimg <= 0 or interval < 1:
            raise ValueError(f"kimg must be > 0 and interval ≥ 1, got {kimg} and {interval}")
        self.fns = [fn for part in parts for fn in FUNCTIONS[part]]
        self.target, self.images_to_one, self.interval = float(target), float(kimg) * 1000.0, int(interval)
        self.register_buffer("p", torch.zeros(()))  # augmentation probability
        self.register_buffer("sums", torch.zeros(3))  # [Σ sign(D(real)), number of logits, steps] since the last update

    def forward(self, x: Tensor) -> Tensor:  # [B, C, H, W] → [B, C, H, W]
        for fn in self.fns:
            pick = (torch.rand(x.shape[0], device=x.device) < self.p).nonzero().flatten()  # [k] images to transform
            if pick.numel():
                x = x.index_put((pick,), fn(x[pick]))  # differentiable; the other images pass unchanged
        return x

    @torch.no_grad()
    def observe(self, real_logits: Tensor) -> None:
        """Add one step's D outputs on (augmented) real images; every ``interval`` steps, move ``p``."""
        logits = real_logits.detach().float().flatten()  # [B]
        self.sums += torch.stack([logits.sign().sum(), torch.tensor(float(logits.numel()), device=logits.device),
                                  torch.ones((), device=logits.device)])
        due = (self.sums[2] >= self.interval).float()
        r_t = self.sums[0] / self.sums[1].clamp(min=1.0)
        step = torch.sign(r_t - self.target) * self.sums[1] / self.images_to_one
        self.p.copy_((self.p + due * step).clamp(0.0, 1.0))
        self.sums.mul_(1.0 - due)

    def stats(self) -> dict[str, Tensor]:
        return {"ada_p": self.p.detach().clone()}
