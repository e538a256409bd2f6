"""The seed articles' claims and numbers, as data, in one place (experiments read them; nothing else states them).

Each :class:`Claim` has a key (``"000.vae_mean_std"``), the article's words in English, the number as printed
(``article``) and, where the article gives one, a numeric value or range the verdict logic compares against.
Add a claim: one entry in :data:`CLAIMS`.
"""
from __future__ import annotations

from dataclasses import dataclass

from animegen.errors import AnimegenError


@dataclass(frozen=True)
class Claim:
    key: str
    seed: str
    claim: str
    article: str  # as the article prints it
    value: float | None = None
    low: float | None = None
    high: float | None = None


SETUP_000 = "~4,000 anime heads, 128 px, Titan GPU, 1,000 epochs; AE z=256, VAE z=50"

CLAIMS: dict[str, Claim] = {c.key: c for c in (
    Claim("000.setup", "000", "training setup", SETUP_000),
    Claim("000.ae_latent_dim", "000", "AE code size", "256", value=256),
    Claim("000.vae_latent_dim", "000", "VAE code size", "50", value=50),
    Claim("000.size", "000", "image size", "128 px", value=128),
    Claim("000.vae_mean_std", "000", "VAE codes: mean std per dimension", "≈ 0.2", value=0.2),
    Claim("000.ae_mean_std", "000", "AE codes: mean std per dimension", "≈ 53.53", value=53.53),
    Claim("000.vae_mean_norm", "000", "VAE codes: mean vector length", "≈ 19", value=19.0),
    Claim("000.ae_mean_norm", "000", "AE codes: mean vector length", "≈ 4246", value=4246.0),
    Claim("000.same_distance", "000", "similar images / same character: code distance", "1.15–1.75",
          low=1.15, high=1.75),
    Claim("000.different_distance", "000", "different characters: code distance", "> 2.0", low=2.0),
    Claim("000.background_invariance", "000", "similar images stay close even with different backgrounds",
          "close despite other background"),
    Claim("000.ae_clusters", "000", "AE codes form separate clusters with empty space between them",
          "clusters + gaps"),
    Claim("000.vae_one_region", "000", "VAE codes form one large continuous region mixing the classes",
          "one mixed region"),
    Claim("000.ae_prior_decodes", "000", "decoding empty regions of the AE's code space gives broken images",
          "blurry / broken"),
    Claim("000.vae_prior_decodes", "000", "the VAE decodes sampled codes into plausible new faces",
          "plausible faces"),
    Claim("000.vae_smooth_morph", "000", "VAE morphs change smoothly; AE morphs blur or break mid-path",
          "VAE smooth, AE broken mid-path"),
    Claim("000.perturb_sensitive", "000", "attributes most sensitive to a small code perturbation",
          "eye colour, expression, hair"),
    Claim("000.blend_both", "000", "a 50/50 blend of two characters carries features of both",
          "eyes of one, bangs/hair of the other"),
)}


def claim(key: str) -> Claim:
    try:
        return CLAIMS[key]
    except KeyError:
        raise AnimegenError(f"no claim {key!r}; known: {', '.join(sorted(CLAIMS))}") from None


def article(key: str) -> str:
    """The article's number as printed (for the verdict table's 'article' column)."""
    return claim(key).article
