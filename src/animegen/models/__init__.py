"""Model families. ``MODELS`` is the registry: a plain dict from family name to class."""
from __future__ import annotations

from animegen.models.ae import AE, AEConfig
from animegen.models.base import DataSpec, GenerativeModel, SimpleContext, StepContext
from animegen.models.dcgan import DCGAN, DCGANConfig
from animegen.models.vae import VAE, VAEConfig
from animegen.models.vaegan import VAEGAN, VAEGANConfig
from animegen.models.wgan import WGAN, WGANGP, WGANConfig, WGANGPConfig

MODELS: dict[str, type[GenerativeModel]] = {
    "ae": AE,
    "vae": VAE,
    "vaegan": VAEGAN,
    "dcgan": DCGAN,
    "wgan": WGAN,
    "wgan-gp": WGANGP,
}

__all__ = ["MODELS", "DataSpec", "GenerativeModel", "SimpleContext", "StepContext", "build_model",
           "AE", "AEConfig", "VAE", "VAEConfig", "VAEGAN", "VAEGANConfig",
           "DCGAN", "DCGANConfig", "WGAN", "WGANConfig", "WGANGP", "WGANGPConfig"]


def build_model(family: str, config, spec: DataSpec) -> GenerativeModel:
    from animegen.errors import ConfigError

    if family not in MODELS:
        raise ConfigError(f"unknown model family '{family}'; choose one of: {', '.join(sorted(MODELS))}")
    return MODELS[family](config, spec)
