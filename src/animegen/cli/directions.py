"""`animegen directions`: one latent direction per labelled attribute, with a linear probe's accuracy."""
from __future__ import annotations

from pathlib import Path

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen directions runs/vae-1 --data synth:4000 --out dirs/
  animegen directions runs/vae-1 --data synth:4000 --out dirs/ --effects
  animegen directions runs/ae-2/final.safetensors --data faces/ --labels tags.csv --out dirs/
  animegen directions runs/dcgan-1 --n 4000 --out dirs/          (GAN: sampled codes, probe-labelled)
  animegen perturb runs/vae-1 face.png --mode direction:mouth=smile --directions dirs/directions.safetensors --out f.png

Writes DIR/directions.safetensors (a codes file: one unit direction per row), directions.json (names,
probe accuracies, counts), directions.png (rows = directions, columns = -2..+2 projection stds on a few
faces) and, with --effects, effects.json: how much each direction changes each attribute as an image
probe sees the decoded faces. The synthetic faces carry their attributes; --labels takes a CSV
filename,tag1,tag2,... (0/1 tags, numbers or class names) matched to the data set's file names.
A GAN has no encoder: N codes are sampled and their images labelled by the image probe (InterFaceGAN)."""


OUTPUTS = ("directions.safetensors", "directions.json", "directions.png", "effects.json")


@app.command("directions", epilog=EXAMPLES)
def directions_command(
    checkpoint: Path = typer.Argument(..., help="A model checkpoint (.safetensors) or a run folder."),
    data: str | None = typer.Option(None, "--data", "-d", help="Labelled images: synth:N, a prepared dataset, "
                                       "a folder/archive (with --labels), mnist:DIR. Not used for a GAN."),
    labels: Path | None = typer.Option(None, "--labels", help="Tag CSV: filename,tag1,tag2,... matched by file name."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    n: int = typer.Option(4000, "--n", "-n", min=20, help="Images (or GAN samples) to use."),
    faces: int = typer.Option(3, "--faces", min=1, max=8, help="Faces in the grid."),
    effects: bool = typer.Option(False, "--effects", help="Also measure each direction's effect on every attribute "
                                 "with the image probe (trained on synthetic faces once, then cached)."),
    alpha: float = typer.Option(2.0, "--alpha", help="--effects step along each direction, in projection stds."),
    probe_file: Path | None = typer.Option(None, "--probe", help="An image-probe file (default: the built-in "
                                              "synthetic-face probe)."),
    seed: int = typer.Option(0, "--seed", help="Which images/samples are used, and the held-out split."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, mps or auto."),
) -> None:
    """Find attribute directions in a model's latent space; prints the output folder."""
    import numpy as np

    from animegen.checkpoint import load_model
    from animegen.cli.sample import resolve_checkpoint
    from animegen.data.sources import open_source
    from animegen.errors import AnimegenError
    from animegen.fsutil import check_dir_output, check_output
    from animegen.imaging import save_png
    from animegen.latent import directions as D
    from animegen.latent.codes import can_encode
    from animegen.latent.labels import builtin_columns, labels_from_csv
    from animegen.latent.probe import LabelColumn, default_probe, load_probe
    from animegen.progress import info
    from animegen.train.device import resolve_device

    inputs = [checkpoint] + ([labels] if labels else []) + ([Path(data)] if data and Path(data).exists() else [])
    check_output(out, inputs, kind="dir")
    check_dir_output(out, OUTPUTS)  # never replace a file there that we did not write
    if labels is not None and not labels.is_file():
        raise AnimegenError(f"--labels {labels}: no such file")
    model = load_model(resolve_checkpoint(checkpoint), map_location=str(resolve_device(device)))
    probe = None

    def get_probe():
        nonlocal probe
        if probe is None:
            probe = load_probe(probe_file) if probe_file else default_probe(size=max(32, model.spec.size))
        return probe

    extra: dict = {"checkpoint": str(checkpoint), "family": model.family, "seed": seed}
    if can_encode(model):
        if not data:
            raise AnimegenError("--data is required: the directions come from the codes of labelled images")
        ds = open_source(data, size=model.spec.size, channels=model.spec.channels)
        if labels is not None:
            match = labels_from_csv(labels, ds)
            columns = match.columns
            extra["labels"] = {"csv": str(labels), "matched_rows": match.matched,
                               "unmatched_rows": len(match.unmatched_rows),
                               "unmatched_examples": match.unmatched_rows[:10],
                               "unlabelled_images": match.unlabelled_images}
            info(f"--labels: {match.matched} rows matched, {len(match.unmatched_rows)} unmatched"
                 + (f" (e.g. {', '.join(match.unmatched_rows[:3])})" if match.unmatched_rows else "")
                 + f"; {match.unlabelled_images} images without labels")
        else:
            columns = builtin_columns(ds)
        idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[: min(n, len(ds))])
        codes = D.encode_images(model, ds.images[idx])  # [n, D]
        columns = [LabelColumn(c.name, c.values[idx], c.classes, c.low, c.high) for c in columns]
        extra.update(data=data, n=int(len(idx)), codes="encoder codes of data images")
    else:
        if labels is not None:
            raise AnimegenError(f"a {model.family} model has no encoder, so data labels cannot be attached to codes; "
                                "drop --labels (its samples are labelled by the image probe)")
        if data:
            info(f"note: --data is not used for a {model.family} model; its samples are labelled by the image probe")
        codes, columns = D.sample_and_label(model, get_probe(), n, seed)
        extra.update(n=n, codes="prior samples labelled by the image probe (InterFaceGAN, Shen et al. 2020)")
    dirs = D.find_directions(codes, columns, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    if effects:
        eff = D.direction_effects(model, get_probe(), codes[:256], dirs, alpha=alpha, seed=seed)
        from animegen.fsutil import atomic_write_json

        atomic_write_json(out / "effects.json", eff, mark=True)
        extra["effects"] = "effects.json"
    path = D.save_directions(out, dirs, extra)
    grid, shown = D.direction_grid(model, codes[-faces:], dirs)
    save_png(grid, out / "directions.png")
    best = sorted(dirs.info, key=lambda r: -np.nan_to_num(r["probe_balanced_accuracy"]))[:5]
    info(f"{len(dirs)} directions ({len(shown)} in the grid); best probed: "
         + ", ".join(f"{r['name']} {r['probe_balanced_accuracy']:.2f}" for r in best))
    typer.echo(str(path.parent))
