"""Latent-space tools: fitted priors, code resolution, and editing (interpolate, blend, perturb)."""
from animegen.latent.blend import Blend, blend, blend_row, normalise_weights
from animegen.latent.codes import Codes, NeedsInversion, load_codes, resolve_codes, save_codes
from animegen.latent.decoding import decode_codes, pixel_change
from animegen.latent.interpolate import Interpolation, interpolate, path_codes
from animegen.latent.perturb import Perturbation, perturb
from animegen.latent.prior import GaussianFit, encode_all, fit_gaussian

__all__ = ["GaussianFit", "encode_all", "fit_gaussian",
           "Codes", "NeedsInversion", "load_codes", "resolve_codes", "save_codes",
           "Blend", "blend", "blend_row", "normalise_weights", "decode_codes", "pixel_change",
           "Interpolation", "interpolate", "path_codes", "Perturbation", "perturb"]
