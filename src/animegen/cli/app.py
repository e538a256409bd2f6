"""The typer application object; each ``cli/<command>.py`` module registers its commands on it."""
from __future__ import annotations

import typer

app = typer.Typer(
    name="animegen",
    help="Train generative models of anime faces (AE, VAE, DCGAN, WGAN, WGAN-GP) and look inside them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
