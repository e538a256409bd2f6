"""Latent-space tools: fitted priors now; interpolation, blending, directions and statistics build on this."""
from animegen.latent.prior import GaussianFit, encode_all, fit_gaussian

__all__ = ["GaussianFit", "encode_all", "fit_gaussian"]
