"""`animegen blend`: mix two or more characters by a weighted mix of their latent codes."""
from __future__ import annotations

from pathlib import Path

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen blend runs/vae-1 alice.png bob.png --weights 0.3,0.7 --out mix.png
  animegen blend runs/vae-1 a.png b.png c.png --weights 1,1,2 --out three.png
  animegen blend runs/vae-1 alice.png bob.png --grid 8 --out row.png
  animegen blend runs/dcgan-1 seed:1 seed:2 --weights 0.5,0.5 --out gan_mix.png

Inputs are image files (encoded; resized/converted with a note), seed:N, data:SOURCE#I or codes:FILE#I.
The blend decodes z = Σ wᵢ zᵢ. Weights must not be negative and there must be one per input; weights that do
not sum to 1 are normalised (with a note); without --weights every input weighs the same. The picture shows
each input's reconstruction and the blend; --grid N adds a row mixing the two inputs over weights 0..1.
A GAN needs --invert for image inputs. Writes F.png plus F.json (weights, code distances, pixel changes)."""


@app.command("blend", epilog=EXAMPLES)
def blend_command(
    checkpoint: Path = typer.Argument(..., help="A model checkpoint (.safetensors) or a run folder."),
    inputs: list[str] = typer.Argument(..., help="Two or more inputs: image, seed:N, data:SRC#I, codes:FILE#I."),
    weights: str | None = typer.Option(None, "--weights", "-w", help="Comma-separated weights, one per input "
                                          "(default: equal)."),
    out: Path = typer.Option(Path("blend.png"), "--out", "-o", help="Output PNG."),
    grid: int = typer.Option(0, "--grid", help="Add a row of N images mixing the two inputs over weights 0..1."),
    invert: bool = typer.Option(False, "--invert", help="GANs: optimise a code for each image input."),
) -> None:
    """Decode a weighted mix of the inputs' codes; prints what it wrote."""
    import torch

    from animegen.cli import latent_io as io
    from animegen.imaging import make_grid, save_png
    from animegen.latent.blend import blend, normalise_weights, parse_weights

    io.require(len(inputs) >= 2, f"blend needs at least two inputs, got {len(inputs)}")
    io.require(grid == 0 or grid >= 2, f"--grid must be at least 2 images (or 0 for none), got {grid}")
    io.require(grid == 0 or len(inputs) == 2, f"--grid mixes exactly two inputs; got {len(inputs)}")
    values = parse_weights(weights) if weights is not None else [1.0 / len(inputs)] * len(inputs)
    normalise_weights(values, len(inputs))  # weight errors before any model is loaded
    model, path = io.load(checkpoint)
    sidecar = io.check_outputs(out, (".png",), [path, *io.spec_files(inputs)])

    codes = io.resolve(model, inputs, invert)
    result = blend(model, codes.z, values, grid=grid)
    scale = io.scale_for(model.spec.size)
    letters = [chr(ord("A") + i) if i < 26 else f"#{i}" for i in range(len(inputs))]
    tiles = make_grid(io.to_rgb(torch.cat([result.inputs, result.image])),
                      nrow=len(inputs) + 1, scale=scale,
                      col_labels=[f"{a} {float(w):.2f}" for a, w in zip(letters, result.weights, strict=True)]
                      + ["blend"])
    pictures = [tiles]
    if result.row is not None and result.row_weights is not None:
        pictures.append(make_grid(io.to_rgb(result.row), nrow=grid, scale=scale,
                                  col_labels=[f"B {w:.2f}" for w in result.row_weights]))
    save_png(io.stack_pictures(pictures), out)
    notes = codes.notes + result.notes
    io.write_json(sidecar, {"command": "blend", "inputs": list(inputs), "labels": codes.labels,
                            "notes": list(dict.fromkeys(notes)),
                            "settings": {"weights_given": values, "grid": grid, "invert": invert, "out": str(out)},
                            "model": io.model_info(model, path), "numbers": result.numbers(codes.z)})
    io.say_notes(notes)
    io.say_written(out, sidecar)
