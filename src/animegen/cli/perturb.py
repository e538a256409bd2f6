"""`animegen perturb`: nudge one code (random noise, dimensions, principal axes, attribute directions)."""
from __future__ import annotations

from pathlib import Path

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen perturb runs/vae-1 face.png --eps 0.5 --n 8 --mode random --out random.png
  animegen perturb runs/vae-1 face.png --eps 2 --n 6 --mode dims --data synth:2000 --out dims.png
  animegen perturb runs/vae-1 face.png --eps 2 --n 5 --mode pca --data data/faces64 --out pca.png
  animegen perturb runs/vae-1 face.png --eps 3 --mode direction:hair_hue --directions dirs/directions.safetensors
    --out hair.png
  animegen perturb runs/dcgan-1 seed:7 --eps 1 --n 5 --mode pca --out ganspace.png

--mode random: the code plus ε·N(0, I), N samples (seed 000's experiment). dims: N dimensions swept from −ε to +ε
(with --data, the N with the largest variance over the data's codes, else the first N). pca: the first N
principal axes of the --data codes, swept by ±ε·σ; a GAN has no encoder, so its axes come from GANSpace (PCA of
the generator's first activations, Härkönen et al. 2020) and need no --data. direction:NAME: a direction saved
by `animegen directions` (--directions FILE); 'direction' alone sweeps the first N; an unknown name lists the
valid ones. The middle column of a sweep is the unchanged code. Writes F.png plus F.json (per-row pixel change)."""


@app.command("perturb", epilog=EXAMPLES)
def perturb_command(
    checkpoint: Path = typer.Argument(..., help="A model checkpoint (.safetensors) or a run folder."),
    source: str = typer.Argument(..., help="The input: image, seed:N, data:SRC#I or codes:FILE#I."),
    eps: float = typer.Option(0.5, "--eps", help="Size of the change ε (> 0), in latent units (× σ for pca)."),
    n: int = typer.Option(8, "--n", "-n", help="Random samples, or dimensions/axes/directions to sweep (>= 1)."),
    mode: str = typer.Option("random", "--mode", help="random, dims, pca or direction[:NAME]."),
    data: str | None = typer.Option(None, "--data", help="Dataset whose codes give dims/pca their axes."),
    data_n: int = typer.Option(2000, "--data-n", help="Encode at most this many --data images (a seeded subset)."),
    directions: Path | None = typer.Option(None, "--directions", help="Directions file for --mode direction."),
    out: Path = typer.Option(Path("perturb.png"), "--out", "-o", help="Output PNG."),
    seed: int = typer.Option(0, "--seed", help="Noise seed of --mode random (and of the --data subset)."),
    invert: bool = typer.Option(False, "--invert", help="GANs: optimise a code for an image input."),
) -> None:
    """Decode perturbations of one input's code as a grid; prints what it wrote."""
    from animegen.cli import latent_io as io
    from animegen.imaging import make_grid, save_png
    from animegen.latent.codes import can_encode, load_codes
    from animegen.latent.perturb import dataset_codes, parse_mode, perturb

    io.require(eps > 0, f"--eps must be > 0, got {eps:g}")
    io.require(n >= 1, f"--n must be at least 1, got {n}")
    io.require(data_n >= 2, f"--data-n must be at least 2, got {data_n}")
    kind, _ = parse_mode(mode)
    io.require(kind != "direction" or directions is not None,
               "--mode direction needs --directions FILE (written by `animegen directions CKPT --data ... --out DIR`)")
    model, path = io.load(checkpoint)
    inputs = [path, *io.spec_files([source]), *([directions] if directions else [])]
    sidecar = io.check_outputs(out, (".png",), inputs)

    notes: list[str] = []
    if directions is not None and kind != "direction":
        notes.append(f"--directions is not used by --mode {kind}")
    codes = io.resolve(model, [source], invert)
    notes += codes.notes
    data_codes = None
    if data is not None and kind in ("dims", "pca"):
        if can_encode(model):
            data_codes, more = dataset_codes(model, data, limit=data_n, seed=seed)
            notes += more
        else:
            notes.append(f"--data ignored: this {model.family} model cannot encode images"
                         + ("; pca uses GANSpace axes" if kind == "pca" else ""))
    elif data is not None:
        notes.append(f"--data is not used by --mode {kind}")
    dirs = None
    if directions is not None:
        z, labels, _ = load_codes(directions)
        dirs = (z, labels)
    result = perturb(model, codes.z[0], mode, eps, n, seed=seed, data_codes=data_codes, directions=dirs)
    notes += result.notes
    scale = io.scale_for(model.spec.size)
    picture = make_grid(io.to_rgb(result.frames), nrow=result.ncol, scale=scale,
                        row_labels=result.row_labels or None, col_labels=result.col_labels or None)
    save_png(picture, out)
    io.write_json(sidecar, {"command": "perturb", "inputs": [source], "labels": codes.labels,
                            "notes": list(dict.fromkeys(notes)),
                            "settings": {"mode": mode, "eps": eps, "n": n, "data": data, "data_n": data_n,
                                         "directions": str(directions) if directions else None, "seed": seed,
                                         "invert": invert, "out": str(out)},
                            "model": io.model_info(model, path), "numbers": result.numbers()})
    io.say_notes(notes)
    io.say_written(out, sidecar)
