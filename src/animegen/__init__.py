"""animegen: generative models of anime character faces, and tools to look inside them.

Usage in four lines::

    import animegen
    model = animegen.load("runs/vae-1/final.safetensors")   # rebuilds the model from the file alone
    images = model.sample(16)                                 # [16, 3, 64, 64] in [-1, 1]
    animegen.imaging.save_grid(images, "samples.png")
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load", "AnimegenError"]

from animegen.errors import AnimegenError


def load(path, map_location: str = "cpu"):
    """Rebuild a ready model (eval mode) from an animegen checkpoint file alone."""
    from animegen.checkpoint import load_model

    return load_model(path, map_location=map_location)
