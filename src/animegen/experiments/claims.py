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
    # seed 001: VAE anime faces, the observation σ as the reconstruction/KL balance
    Claim("001.sigma_balance", "001", "the observation std σ is the hyperparameter that balances reconstruction "
          "against KL", "σ set by hand (no value)"),
    Claim("001.no_recon", "001", "ignoring the reconstruction term collapses the latent distribution to N(0, I): "
          "similar output whatever the input", "same output for every input"),
    Claim("001.kl_scaled", "001", "0.001·KL + reconstruction loss is incorrect", "0.001·KL", value=0.001),
    Claim("001.no_kl", "001", "ignoring the KL term turns the VAE into an AE that cannot generate new images",
          "memorises / noise"),
    Claim("001.blurry", "001", "the myth that VAEs only make blurry images is true", "blurry"),
    Claim("001.gan_sharp", "001", "GANs give sharper, more vivid images than VAEs", "GAN sharper"),
    # seed 002: the course project's DCGAN
    Claim("002.settings", "002", "training settings", "1 epoch, lr 1e-4, batch 64, 64 px", value=1e-4),
    Claim("002.lr", "002", "learning rate", "1e-4", value=1e-4),
    Claim("002.batch", "002", "batch size", "64", value=64),
    Claim("002.epochs", "002", "training epochs", "1", value=1),
    Claim("002.faces", "002", "after 1 epoch the samples are recognisable anime faces (outline, hair, eyes)",
          "recognisable, judged by eye"),
    Claim("002.collapse", "002", "the generator repeats highly similar images (mode collapse), colours repeat",
          "mode collapse seen"),
    Claim("002.variants", "002", "WGAN drops the sigmoid; WGAN-GP swaps BatchNorm for InstanceNorm in the critic",
          "layout changes, no numbers"),
    Claim("002.is", "002", "the Inception Score is the quantitative metric", "IS named, no value"),
    # seed 003: AE and VAE on MNIST, and the GAN-vs-VAE table
    Claim("003.epochs", "003", "VAE training epochs", "20", value=20),
    Claim("003.loss_first", "003", "VAE loss (BCE-sum + KL per image), first epoch", "159", value=159.0),
    Claim("003.loss_last", "003", "VAE loss per image after 20 epochs", "105", value=105.0, low=100.0, high=110.0),
    Claim("003.recon_loss", "003", "reconstruction loss per image (test)", "105.9", value=105.9),
    Claim("003.per_pixel", "003", "105.9 / 784 = average error per pixel", "≈ 0.135", value=0.135),
    Claim("003.generate", "003", "the VAE generates digits from noise (blurry); a plain AE cannot",
          "VAE yes, AE no"),
    Claim("003.morph", "003", "the VAE morphs a 1 into a 7 smoothly; the AE's path has holes", "VAE smooth"),
    Claim("003.anomaly", "003", "an image that reconstructs badly (high loss) is an anomaly", "high loss = anomaly"),
    Claim("003.table_sharp", "003", "image quality: GAN sharp, VAE blurry", "GAN sharp / VAE blurry"),
    Claim("003.table_stable", "003", "training: GAN unstable, VAE stable (loss falls steadily)",
          "GAN unstable / VAE stable"),
    Claim("003.table_diverse", "003", "diversity: GAN prone to mode collapse, VAE covers the distribution",
          "GAN collapses / VAE covers"),
    Claim("003.table_latent", "003", "latent space: GAN not necessarily continuous, VAE continuous and smooth",
          "GAN not nec. / VAE smooth"),
)}


def claim(key: str) -> Claim:
    try:
        return CLAIMS[key]
    except KeyError:
        raise AnimegenError(f"no claim {key!r}; known: {', '.join(sorted(CLAIMS))}") from None


def article(key: str) -> str:
    """The article's number as printed (for the verdict table's 'article' column)."""
    return claim(key).article
