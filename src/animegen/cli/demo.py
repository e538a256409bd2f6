"""``animegen demo``: the whole pipeline in one command: faces, a VAE and a small GAN, one report page."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen demo                                   [dim]# ≤ 5 minutes on 2 CPU cores, writes demo-out/[/dim]

  animegen demo --minutes 1 --out quick           [dim]# everything scaled down: ~1.5 minutes[/dim]

  animegen demo --data my-faces/ --minutes 10     [dim]# the same pipeline on your own images[/dim]

Renders procedural faces (or reads --data: a folder, zip/tar, prepared dataset), trains a VAE and
a small DCGAN side by side for --minutes (half the cores each; on one core one after the other, 45/55
of --minutes), then writes demo-out/index.html (self-contained): the
best samples first (the VAE's fitted prior, the GAN), reconstructions, a latent interpolation GIF,
loss curves, health signals and grids over training. Each run folder gets its own report.html."""


@app.command("demo", epilog=EXAMPLES)
def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("demo-out"),
    minutes: Annotated[float, typer.Option("--minutes", "-m", min=0.05,
                                           help="Training budget (wall clock): the VAE and the GAN train side by "
                                                "side for all of it (one core: split 45/55); the default number of "
                                                "faces scales with it.")] = 4.0,
    data: Annotated[str | None, typer.Option("--data", "-d", help="Your images instead of the procedural faces: "
                                                                  "a folder, zip/tar or prepared dataset.")] = None,
    n: Annotated[int | None, typer.Option("--n", "-n", min=256, help="Number of procedural faces (default 2000 "
                                                                     "per minute, at most 8000).")] = None,
    size: Annotated[int, typer.Option("--size", "-s", help="Image size: 32, 64 or 128.")] = 64,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the faces and the training runs.")] = 0,
    gan: Annotated[bool, typer.Option("--gan/--no-gan", help="Also train the GAN (--no-gan: the VAE gets all "
                                                             "the time).")] = True,
) -> None:
    """Run the whole pipeline: data, a VAE and a GAN, samples, reconstructions, one report page."""
    from animegen.demo import run_demo
    from animegen.errors import AnimegenError

    if data is not None and n is not None:
        raise AnimegenError("--n sets the number of procedural faces; with --data the demo uses all your images")
    page = run_demo(out, minutes=minutes, n=n, size=size, seed=seed, data=data, gan=gan)
    typer.echo(str(page))
