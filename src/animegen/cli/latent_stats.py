"""`animegen latent-stats`: spread, active units, KL and distances of an encoder's codes (AE vs VAE)."""
from __future__ import annotations

from pathlib import Path

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen latent-stats runs/vae-1 --data synth:4000 --out stats/
  animegen latent-stats runs/vae-1 --data synth:4000 --compare runs/ae-1 --out ae-vs-vae/
  animegen latent-stats runs/ae-2/final.safetensors --data faces/ --n 5000 --color-by none --out stats/

Writes DIR/stats.json (per model: per-dimension mean/std, mean std, mean code norm, active units
(Burda et al. 2016: dimensions whose posterior mean varies over x by > 0.01), per-dimension KL for a
VAE, Euclidean code distances of the same face under small augmentations, of the same synthetic identity
with another expression and of different faces; plus seed 000's table) and histograms.png,
distances.png, pca.png (codes projected on two principal components, coloured by an attribute).
--compare puts a second model beside the first. A GAN has no encoder: its sampled codes are N(0, I)
by construction, so there is nothing to measure."""


def _name(model, path: Path, taken: list[str]) -> str:
    name = model.family
    return name if name not in taken else f"{name} ({path.stem})"


@app.command("latent-stats", epilog=EXAMPLES)
def latent_stats_command(
    checkpoint: Path = typer.Argument(..., help="An AE/VAE checkpoint (.safetensors) or a run folder."),
    data: str = typer.Option(..., "--data", "-d",
                             help="Images: synth:N, a prepared dataset, a folder/archive, mnist:DIR."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    compare: Path | None = typer.Option(None, "--compare", help="A second checkpoint to put side by side."),
    n: int = typer.Option(2000, "--n", "-n", min=10, help="Images whose codes are measured."),
    pairs: int = typer.Option(500, "--pairs", min=2, help="Images for the augmentation/expression distances."),
    color_by: str | None = typer.Option(None, "--color-by", help="Label that colours the PCA plot (default: "
                                           "hair_hue on synthetic faces, else the first label; 'none' for none)."),
    seed: int = typer.Option(0, "--seed", help="Which images are used, and the augmentations."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, mps or auto."),
) -> None:
    """Measure a model's latent space; prints the path of stats.json."""
    from animegen.checkpoint import load_model
    from animegen.cli.sample import resolve_checkpoint
    from animegen.data.sources import open_source
    from animegen.errors import AnimegenError
    from animegen.fsutil import atomic_write_json, check_dir_output, check_output
    from animegen.latent.codes import can_encode
    from animegen.latent.probe import label_columns
    from animegen.latent.stats import NoEncoder, comparison_table, latent_stats
    from animegen.latent.stats_plots import write_figures
    from animegen.progress import info
    from animegen.train.device import resolve_device

    inputs = [checkpoint] + ([compare] if compare else []) + ([Path(data)] if Path(data).exists() else [])
    check_output(out, inputs, kind="dir")
    check_dir_output(out, ("stats.json", "histograms.png", "distances.png", "pca.png"))
    dev = str(resolve_device(device))
    paths = [resolve_checkpoint(checkpoint)] + ([resolve_checkpoint(compare)] if compare else [])
    models = [load_model(p, map_location=dev) for p in paths]
    for p, model in zip(paths, models, strict=True):
        if not can_encode(model):
            raise NoEncoder(f"{p}: latent-stats needs an encoder; a {model.family} model's codes of data images "
                            "come only from inversion (`animegen invert`), and its sampled codes are N(0, I) by "
                            "construction")
    ds = open_source(data, size=models[0].spec.size, channels=models[0].spec.channels)
    column = None
    if ds.labels and (color_by or "").lower() != "none":
        cols = {c.name: c for c in label_columns(ds.labels, ds.meta)}
        want = color_by or ("hair_hue" if "hair_hue" in cols else next(iter(cols)))
        if want not in cols:
            raise AnimegenError(f"--color-by {want!r}: {ds.name} has the labels {', '.join(sorted(cols))} (or 'none')")
        column = cols[want]
    elif color_by and color_by.lower() != "none":
        raise AnimegenError(f"--color-by {color_by!r}: {data} carries no labels (use 'none')")
    stats: list[dict] = []
    names: list[str] = []
    for p, model in zip(paths, models, strict=True):
        if ds.size != model.spec.size or ds.channels != model.spec.channels:
            ds = open_source(data, size=model.spec.size, channels=model.spec.channels)
        info(f"measuring {p} on {min(n, len(ds))} images of {ds.name}")
        s = latent_stats(model, ds, n=n, pairs=pairs, seed=seed, keep_codes=True)
        s["checkpoint"] = str(p)
        names.append(_name(model, p, names))
        stats.append(s)
    out.mkdir(parents=True, exist_ok=True)
    figures = write_figures(out, stats, names, column)
    public = [{"name": nm, **{k: v for k, v in s.items() if k not in ("codes", "index", "_distances_raw")}}
              for nm, s in zip(names, stats, strict=True)]
    table = comparison_table(stats, names)
    atomic_write_json(out / "stats.json", {"data": data, "n": n, "pairs": pairs, "seed": seed, "models": public,
                                           "table": table, "figures": [f.name for f in figures],
                                           "color_by": column.name if column else None}, mark=True)
    for row in table:
        info(f"  {row['quantity']:<52} " + "  ".join(f"{nm}: {row[nm]:.4g}" for nm in names))
    typer.echo(str(out / "stats.json"))
