"""``animegen outliers``: rank a dataset by reconstruction error; a grid of the worst and a keep-list."""
from __future__ import annotations

from pathlib import Path

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen outliers runs/ae-1 --data ~/crawl --top 64 --out cleaned/
  animegen outliers runs/vae-2/final.safetensors --data data/faces64 --threshold 95 --out cleaned/
  animegen prepare ~/crawl --keep-list cleaned/keep.txt --out data/clean64

Writes DIR/worst.png (the --top worst images, worst first, with their error), DIR/outliers.json (every
image's score, rank and name) and DIR/keep.txt (the names to keep: all but the --top worst, or with
--threshold P those under the P-th error percentile). keep.txt holds the names prepare records for the
source, so `animegen prepare SRC --keep-list keep.txt` rebuilds the dataset without the outliers.
The score is the per-image MSE of the model's reconstruction (AE/VAE); a GAN needs --invert (slow)."""


@app.command("outliers", epilog=EXAMPLES)
def outliers_command(
    checkpoint: Path = typer.Argument(..., help="An AE/VAE checkpoint (.safetensors) or a run folder."),
    data: str = typer.Option(..., "--data", "-d", help="The dataset to rank: a folder/archive, prepared dataset, "
                             "synth:N, mnist:DIR."),
    top: int = typer.Option(32, "--top", min=1, help="How many of the worst images to show (and leave out of keep.txt "
                            "unless --threshold is given)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created)."),
    threshold: float | None = typer.Option(None, "--threshold", help="Keep the images under this error percentile "
                                           "(0-100] instead of dropping the --top worst."),
    invert: bool = typer.Option(False, "--invert", help="GANs: score by how well inversion reproduces each image."),
    steps: int = typer.Option(100, "--steps", min=1, help="With --invert: Adam steps per image."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Images per forward pass."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, mps or auto."),
) -> None:
    """Rank a dataset by how badly a model reconstructs each image; prints the output folder."""
    from animegen.checkpoint import load_model
    from animegen.cli.sample import resolve_checkpoint
    from animegen.data.keeplist import write_keep_list
    from animegen.data.sources import open_source
    from animegen.errors import AnimegenError
    from animegen.fsutil import atomic_write_json, check_output
    from animegen.imaging import save_png
    from animegen.latent.outliers import NeedsEncoder, captioned_grid, rank_images, rank_outliers
    from animegen.progress import info
    from animegen.train.device import resolve_device

    if threshold is not None and not 0 < threshold <= 100:
        raise AnimegenError(f"--threshold is a percentile in (0, 100], got {threshold}")
    path = resolve_checkpoint(checkpoint)
    inputs = [path] + ([Path(data)] if Path(data).exists() else [])
    check_output(out, inputs, kind="dir")
    targets = {name: out / name for name in ("worst.png", "outliers.json", "keep.txt")}
    for t in targets.values():
        check_output(t, inputs)
    model = load_model(path, map_location=str(resolve_device(device)))
    if not getattr(model, "has_encoder", False) and not invert:
        raise NeedsEncoder(f"this {model.family} model has no encoder, so it cannot rank images by reconstruction "
                           "error: use an AE/VAE checkpoint, or add --invert (slow: optimises a code per image)")
    ds = open_source(data)
    rep = rank_outliers(model, ds, invert=invert, batch_size=batch_size, steps=steps, restarts=1)
    for n in rep.notes:
        info(f"note: {n}")
    k = min(top, len(rep.scores))
    worst = rep.order[:k]
    shown = rank_images(ds, model)[worst]  # [k, H, W, C] uint8
    save_png(captioned_grid(shown, [f"{rep.scores[j]:.3g}" for j in worst], ncol=min(8, k),
                            scale=max(1, 64 // model.spec.size)), targets["worst.png"])
    drop_top = 0 if threshold is not None else k
    report = rep.to_json(k, threshold, drop_top)
    report.update({"checkpoint": str(path), "data": data,
                   "worst_png": "worst first, row by row, each captioned with its score"})
    names = rep.keep_names(threshold, drop_top)
    write_keep_list(targets["keep.txt"], names,
                    header=f"animegen outliers {path.name} --data {data}: {len(names)} of {len(rep.scores)} kept")
    atomic_write_json(targets["outliers.json"], report, mark=True)
    info(f"ranked {len(rep.scores)} images by {rep.method} error; worst {float(rep.scores[worst[0]]):.4f}, "
         f"median {report['summary']['median']:.4f}; keep.txt lists {len(names)}")
    typer.echo(str(out))
