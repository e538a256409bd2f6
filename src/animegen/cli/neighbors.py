"""``animegen neighbors``: each generated sample beside its nearest training images (memorisation check)."""
from __future__ import annotations

from pathlib import Path

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen neighbors runs/dcgan-1 --data data/faces64 --n 8 --out neighbors.png
  animegen neighbors runs/vae-2 --data ~/faces --n 16 --k 3 --seed 7 --out nn.png
  animegen neighbors runs/dcgan-1 --data synth:2000 --features pixels --out nn_pixels.png

Each row: a sample, then its --k nearest training images, nearest first. Writes F.png and F.json (per
sample the training rows, names and distances, plus the memorisation summary: the share of samples much
closer to one training image than to any other). Distances are in Inception pool3 space (the FID network;
the dataset's features are cached) or, with --features pixels, in pixel space (no weights needed)."""


@app.command("neighbors", epilog=EXAMPLES)
def neighbors_command(
    checkpoint: Path = typer.Argument(..., help="A model checkpoint (.safetensors) or a run folder."),
    data: str = typer.Option(..., "--data", "-d", help="The training images: a folder/archive, prepared dataset, "
                             "synth:N, mnist:DIR."),
    n: int = typer.Option(8, "--n", "-n", min=1, help="Number of samples (rows)."),
    out: Path = typer.Option(..., "--out", "-o", help="The PNG to write (and a JSON beside it)."),
    k: int = typer.Option(5, "--k", min=1, help="Nearest training images per sample."),
    features: str = typer.Option("inception", "--features", help="inception (FID network, offline weights) or pixels."),
    seed: int = typer.Option(0, "--seed", help="Sample seed."),
    inception: Path | None = typer.Option(None, "--inception", help="Inception weights file."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, mps or auto."),
) -> None:
    """Show samples beside their nearest training images; prints the PNG and JSON paths."""
    import numpy as np

    from animegen.checkpoint import load_model
    from animegen.cli.sample import resolve_checkpoint
    from animegen.data.imageset import convert
    from animegen.data.sources import open_source
    from animegen.errors import AnimegenError
    from animegen.fsutil import atomic_write_json, check_output
    from animegen.imaging import make_grid, save_png
    from animegen.latent.neighbors import FEATURES, find_neighbors
    from animegen.latent.outliers import source_names
    from animegen.progress import info
    from animegen.train.device import resolve_device

    if features not in FEATURES:
        raise AnimegenError(f"--features must be one of {', '.join(FEATURES)}, got {features!r}")
    if out.suffix.lower() != ".png":
        raise AnimegenError(f"--out {out}: pass a .png file name")
    path = resolve_checkpoint(checkpoint)
    inputs = [path] + ([Path(data)] if Path(data).exists() else []) + ([inception] if inception else [])
    json_path = out.with_suffix(".json")
    check_output(out, inputs)
    check_output(json_path, inputs)
    model = load_model(path, map_location=str(resolve_device(device)))
    ds = open_source(data)
    res = find_neighbors(model, ds, n=n, k=k, features=features, seed=seed,
                         inception=str(inception) if inception else None)
    for note in res.notes:
        info(f"note: {note}")
    train = convert(ds, model.spec.size, model.spec.channels).images
    kk = res.indices.shape[1]
    tiles = [im for i in range(n) for im in (res.samples[i], *train[res.indices[i]])]
    grid = make_grid(np.stack(tiles), nrow=kk + 1,  # [n·(k+1), H, W, C] → rows of sample + neighbours
                     col_labels=["sample"] + [f"nn {j + 1}" for j in range(kk)],
                     scale=max(1, 64 // model.spec.size))
    names, _ = source_names(ds)
    save_png(grid, out)
    report = {
        "checkpoint": str(path), "data": data, "features": features, "seed": seed, "k": kk, "notes": res.notes,
        "summary": res.summary,
        "samples": [{"sample": i, "neighbors": [{"index": int(j), "name": names[int(j)], "distance": float(d)}
                                                for j, d in zip(res.indices[i], res.distances[i], strict=True)]}
                    for i in range(n)],
    }
    atomic_write_json(json_path, report, mark=True)
    info(f"mean nearest-neighbour distance {res.summary['mean_nn_distance']:.4g} ({features}); "
         f"{res.summary['sample_memorised_fraction']:.0%} of samples look like copies (d1/d2 < 1/3)")
    typer.echo(str(out))
    typer.echo(str(json_path))
