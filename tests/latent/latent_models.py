"""Tiny real-family models for the latent-tool tests, with BatchNorm running statistics that match their
own outputs (freshly initialised BN stats make a GAN's samples nearly constant)."""
from __future__ import annotations

import torch

from animegen.models import MODELS, DataSpec


def tiny(family: str, size: int = 16, latent: int = 16, seed: int = 0):
    torch.manual_seed(seed)
    cls = MODELS[family]
    if family in ("ae", "vae"):
        cfg = cls.config_cls(latent_dim=latent, widths=(8, 8, 8, 8))
    else:
        cfg = cls.config_cls(latent_dim=latent, g_width=8, d_width=8)
    model = cls(cfg, DataSpec(3, size))
    model.train()
    with torch.no_grad():
        for _ in range(20):  # running statistics of the model's own activations
            g = model.decode(torch.randn(32, latent))
            if hasattr(model, "discriminator"):
                model.discriminator(g)
            else:
                model.encode(g)
    return model.eval()
