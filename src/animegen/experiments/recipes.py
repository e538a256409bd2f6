"""The training recipes of the kl-balance, gan-vs-vae, dcgan-seed002 and mnist experiments, as data.

A :class:`Recipe` is a run key, a family and ``--set``-style overrides; :func:`train` trains (or reuses) it
through the runner's :meth:`~animegen.experiments.core.Context.train` at a size, data source and process-CPU
budget. The values restate the repository's
``configs/*.toml`` recipes so that the experiments also run from an installed package.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from animegen.experiments.core import Context


@dataclass(frozen=True)
class Recipe:
    """A named training setup: ``family`` and ``key=value`` overrides (``model.*``, ``data.*``, ``train.*``)."""

    name: str
    family: str
    overrides: tuple[str, ...] = field(default_factory=tuple)

    def with_overrides(self, name: str, *more: str) -> Recipe:
        return Recipe(name, self.family, self.overrides + tuple(more))


FACES = ("data.channels=3", "data.hflip=true", "train.ema_decay=0")

# configs/dcgan-seed002.toml: the course project's DCGAN exactly (Adam 1e-4, β 0.5/0.999, batch 64, BCE)
DCGAN_SEED002 = Recipe("dcgan-seed002", "dcgan", FACES + ("model.arch=seed002", "train.batch_size=64"))
# configs/wgan.toml: weight clipping 0.01, RMSprop 5e-5, n_critic 5 (Arjovsky et al. 2017)
WGAN_SEED002 = Recipe("wgan-seed002", "wgan", FACES + (
    "model.arch=seed002", "model.d_norm=batch", "model.clip_value=0.01", "model.n_critic=5",
    "model.optimizer=rmsprop", "model.lr_g=5e-5", "model.lr_d=5e-5", "train.batch_size=64"))
# configs/wgan-gp.toml: instance-norm critic, λ = 10, n_critic 5, Adam 1e-4 β (0, 0.9) (Gulrajani et al. 2017)
WGAN_GP_SEED002 = Recipe("wgan-gp-seed002", "wgan-gp", FACES + (
    "model.arch=seed002", "model.d_norm=instance", "model.gp_weight=10", "model.n_critic=5",
    "model.optimizer=adam", "model.lr_g=1e-4", "model.lr_d=1e-4", "model.betas=[0.0, 0.9]", "train.batch_size=64"))
# configs/vae-faces.toml without the mixture prior: the conv VAE with a calibrated σ (Rybkin et al. 2021) and an MMD
# term on the codes (Zhao et al. 2019)
VAE_FACES = Recipe("vae-faces", "vae", FACES + (
    "model.arch=conv", "model.widths=[32, 64, 128, 256]", "model.latent_dim=128", "model.upsample=nearest",
    "model.likelihood=gaussian", "model.calibrate_obs_std=true", "model.obs_std=0.25", "model.beta=1.0",
    "model.mmd_weight=3000", "model.lr=5e-4", "train.batch_size=32"))
# configs/vaegan-faces.toml without the mixture prior (Larsen et al. 2016)
VAEGAN_FACES = Recipe("vaegan-faces", "vaegan", FACES + (
    "model.widths=[32, 64, 128, 256]", "model.latent_dim=128", "model.upsample=nearest", "model.d_width=32",
    "model.feature_layer=3", "model.beta=1.0", "model.gamma=0.05", "model.pixel_weight=0.1",
    "model.adaptive_gan_weight=true", "model.gan_weight=8.0", "model.gan_warmup_steps=300",
    "model.diffaug=translation", "model.lr=4e-4", "model.lr_d=4e-4", "model.betas=[0.5, 0.99]",
    "train.batch_size=16", "train.lr_decay=0.3"))
# kl-balance: a fixed-σ Gaussian VAE (seed 001's model), σ and β set per sweep point
VAE_FIXED_SIGMA = Recipe("vae-sigma", "vae", FACES + (
    "model.arch=conv", "model.widths=[32, 64, 128, 256]", "model.latent_dim=64", "model.upsample=nearest",
    "model.likelihood=gaussian", "model.calibrate_obs_std=false", "model.lr=5e-4", "train.batch_size=64"))
# configs/mnist-vae.toml / mnist-ae.toml: the pytorch/examples 784-400-20 MLPs, BCE summed per image
MNIST = ("data.channels=1", "data.size=28", "data.hflip=false", "data.val_fraction=0", "train.ema_decay=0",
         "train.batch_size=128")
MNIST_VAE = Recipe("mnist-vae", "vae", MNIST + (
    "model.arch=mlp", "model.hidden=400", "model.latent_dim=20", "model.likelihood=bernoulli", "model.beta=1.0",
    "model.lr=1e-3", "model.betas=[0.9, 0.999]"))
MNIST_AE = Recipe("mnist-ae", "ae", MNIST + (
    "model.arch=mlp", "model.hidden=400", "model.latent_dim=20", "model.loss=bce", "model.lr=1e-3",
    "model.betas=[0.9, 0.999]"))


def train(ctx: Context, recipe: Recipe, data: str, size: int, cpu_minutes: float, eval_every: int = 0,
          steps: int | None = None) -> Path:
    """The run folder of ``recipe`` at ``size`` px on ``data`` (trained, or reused under the key ``recipe.name``):
    ``cpu_minutes`` of process CPU time, the trainer's diversity check every ``eval_every`` steps (0: at the end),
    no periodic checkpoints or sample grids; ``steps`` caps the run (the CPU budget still applies)."""
    over = [*recipe.overrides, f"data.size={size}", "train.checkpoint_every=0", "train.sample_every=0",
            f"train.eval_every={eval_every}", "train.log_every=10"]
    return Path(ctx.train(recipe.name, recipe.family, cpu_minutes, over, data=data, steps=steps))
