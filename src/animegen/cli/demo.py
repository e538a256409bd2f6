"""``animegen demo``: the whole pipeline on the built-in faces, in one command, with no data."""
from __future__ import annotations

from pathlib import Path

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen demo                                   [dim]# ~5 minutes on 2 CPU cores, writes demo-out/[/dim]

  animegen demo --minutes 15 --n 20000 --out demo-long

Renders procedural faces, trains a small VAE on them for --minutes, then writes sample and
reconstruction grids, a latent interpolation GIF and demo-out/index.html (self-contained)."""


@app.command("demo", epilog=EXAMPLES)
def demo_command(
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Output folder."),
    minutes: float = typer.Option(4.0, "--minutes", "-m", min=0.1, help="Training budget (wall clock)."),
    n: int = typer.Option(8000, "--n", "-n", min=256, help="Number of synthetic training faces."),
    size: int = typer.Option(64, "--size", "-s", help="Image size: 32, 64 or 128."),
    seed: int = typer.Option(0, "--seed", help="Seed for the faces and the training run."),
) -> None:
    """Run the whole pipeline on built-in faces: data, a VAE, samples, reconstructions, a report."""
    from animegen.demo import run_demo

    page = run_demo(out, minutes=minutes, n=n, size=size, seed=seed)
    typer.echo(str(page))
