"""`animegen experiment`: reproduce the seed articles' claims and write a report section per experiment."""
from __future__ import annotations

from pathlib import Path

import typer

from animegen.cli.app import app
from animegen.experiments.core import REGISTRY

EXAMPLES = """[bold]Experiments[/bold]

""" + "\n".join(f"  {e.name:<17} (seed {e.seed}) {e.title}" for e in REGISTRY.values()) + """

[bold]Examples[/bold]

  animegen experiment latent-distances --out exp/
  animegen experiment latent-distances --data synth:2000 --minutes 1 --out exp/
  animegen experiment ae-vs-vae --run vae50-64=runs/vae50-64-1 --out exp/
  animegen experiment all --out exp/

Each experiment trains what it needs (one thread, small process-CPU budgets; --minutes scales them; with
all, --minutes is the total), measures, and writes OUT/NAME/report.md (a verdict table first:
claim | article | ours | setup | verdict | why), OUT/NAME/result.json and its images. Training runs go
to OUT/runs/ and are shared: all trains each model once, and a re-run with the same settings reuses
them. --run KEY=PATH uses a run folder you trained (the keys are printed as each run starts)."""


@app.command("experiment", epilog=EXAMPLES)
def experiment_command(
    name: str = typer.Argument(..., help="An experiment name (listed below) or all."),
    data: str | None = typer.Option(None, "--data", "-d",
                                    help="Training/measuring data: synth:N (default per experiment), a folder, ..."),
    minutes: float | None = typer.Option(None, "--minutes", "-m",
                                         help="Budget in minutes (default: each experiment's own; scales training)."),
    out: Path = typer.Option(Path("experiments"), "--out", "-o", help="Folder that receives the report sections."),
    run: list[str] = typer.Option([], "--run", help="Reuse a trained run: KEY=PATH (repeatable)."),
    threads: int = typer.Option(1, "--threads", help="CPU threads for training and measuring."),
    seed: int = typer.Option(0, "--seed", help="Seed of trainings and measurements."),
    inception: Path | None = typer.Option(None, "--inception",
                                          help="Inception weights file (FID/KID; the Inception Score needs one "
                                               "with the classifier, e.g. pt_inception-2015-12-05-6726825d.pth)."),
) -> None:
    """Reproduce an article's claims: train, measure, write a verdict table; prints the report files."""
    import sys

    import torch

    from animegen.experiments.core import parse_reuse
    from animegen.experiments.runner import command_line, run_experiments

    reuse = parse_reuse(list(run))
    if name != "all":
        from animegen.experiments.core import get

        get(name)
    torch.set_num_threads(max(1, threads))
    argv = sys.argv[sys.argv.index("experiment") + 1:] if "experiment" in sys.argv else [name]
    for md in run_experiments(["all"] if name == "all" else [name], out, data=data, minutes=minutes,
                              threads=threads, seed=seed, reuse=reuse, command=command_line(argv),
                              inception=str(inception) if inception else None):
        typer.echo(str(md))
