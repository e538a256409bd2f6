"""`animegen interpolate`: morph between two inputs through the latent space (GIF, MP4 or a PNG strip)."""
from __future__ import annotations

from pathlib import Path

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen interpolate runs/vae-1 --from a.png --to b.png --steps 64 --out morph.gif
  animegen interpolate runs/vae-1 --from seed:1 --to seed:2 --via seed:3 --slerp --steps 32 --out walk.mp4
  animegen interpolate runs/ae-1 --from synth:100#3 --to synth:100#7 --steps 10 --out ae.png --compare runs/vae-1
  animegen interpolate runs/mnist-vae --from mnist:data/mnist#6 --to mnist:data/mnist#0 --steps 12 --out 1to7.png
  animegen interpolate runs/dcgan-1 --from me.png --to seed:4 --invert --steps 24 --out gan.gif

Inputs (--from, --to, --via) are image files (encoded; resized/converted with a note), seed:N, a dataset row
data:SOURCE#I (synth:N#I and mnist:DIR#I work without data:), or codes:FILE#I (written by `animegen invert`).
Without --from/--to the path runs from seed:SEED to seed:SEED+1. The first frame is A's reconstruction and
the last B's, exactly; frames are spread evenly by code distance along A → via… → B. --compare decodes the
same inputs with a second model beside the first (an AE's holes vs a VAE's smooth morph). A GAN needs
--invert for image inputs. Writes F plus F.json (settings, per-step code distance, frame-to-frame change)."""

SUFFIXES = (".gif", ".mp4", ".png")


@app.command("interpolate", epilog=EXAMPLES)
def interpolate_command(
    checkpoint: Path = typer.Argument(..., help="A model checkpoint (.safetensors) or a run folder."),
    start: str | None = typer.Option(None, "--from", help="Start A: image, seed:N, data:SRC#I or codes:FILE#I."),
    end: str | None = typer.Option(None, "--to", help="End B (same kinds as --from)."),
    via: list[str] | None = typer.Option(None, "--via", help="A point the path passes through (repeatable)."),
    steps: int = typer.Option(16, "--steps", help="Frames, A and B included (at least 2)."),
    use_slerp: bool = typer.Option(False, "--slerp", help="Great-circle path (norm moves linearly) instead of a line."),
    out: Path = typer.Option(Path("interpolation.gif"), "--out", "-o", help="F.gif, F.mp4 or F.png (a strip)."),
    compare: Path | None = typer.Option(None, "--compare", help="A second checkpoint rendered side by side."),
    invert: bool = typer.Option(False, "--invert", help="GANs: optimise a code for each image input."),
    fps: float = typer.Option(12.0, "--fps", help="Frames per second of a GIF/MP4."),
    seed: int = typer.Option(0, "--seed", help="Default endpoints seed:SEED and seed:SEED+1."),
    nrow: int | None = typer.Option(None, "--nrow", help="Frames per row of a PNG strip (default: all in one row, "
                                       "at most 16)."),
) -> None:
    """Decode a latent path A → (via points) → B into frames; prints what it wrote."""
    from animegen.cli import latent_io as io
    from animegen.latent.interpolate import interpolate

    io.require(steps >= 2, f"--steps must be at least 2 (the two endpoints), got {steps}")
    io.require(fps > 0, f"--fps must be > 0, got {fps}")
    io.require(nrow is None or nrow >= 1, f"--nrow must be >= 1, got {nrow}")
    specs = [start or f"seed:{seed}", *(via or []), end or f"seed:{seed + 1}"]
    io.require(steps >= len(specs), f"--steps {steps} cannot show {len(specs)} points (A, {len(specs) - 2} via, B); "
               f"use --steps {len(specs)} or more")
    model, path = io.load(checkpoint)
    inputs = [path, *io.spec_files(specs)]
    models = [(model, path)]
    if compare is not None:
        models.append(io.load(compare))
        inputs.append(models[1][1])
    sidecar = io.check_outputs(out, SUFFIXES, inputs)

    results, notes, labels = [], [], None
    for m, _ in models:
        codes = io.resolve(m, specs, invert)
        notes += codes.notes
        labels = labels or codes.labels
        results.append(interpolate(m, codes.z, steps, use_slerp=use_slerp))
    names = _names([(m, p) for m, p in models])
    frames = io.match_frames([r.frames for r in results])  # each [K, C, H, W]
    _write(out, frames, names, fps, nrow, io.scale_for(int(frames[0].shape[-1])))
    payload = {"command": "interpolate", "inputs": specs, "labels": labels, "notes": list(dict.fromkeys(notes)),
               "settings": {"steps": steps, "slerp": use_slerp, "fps": fps, "seed": seed, "invert": invert,
                            "out": str(out)},
               "model": io.model_info(model, path), "numbers": results[0].numbers()}
    if compare is not None:
        payload["compare"] = {"model": io.model_info(*models[1]), "numbers": results[1].numbers()}
    io.write_json(sidecar, payload)
    io.say_notes(notes)
    io.say_written(out, sidecar)


def _names(models) -> list[str]:
    fams = [m.family for m, _ in models]
    if len(set(fams)) == len(fams):
        return fams
    return [f"{m.family} {p.parent.name}/{p.stem}" for m, p in models]


def _write(out: Path, frames, names: list[str], fps: float, nrow: int | None, scale: int) -> None:
    import torch

    from animegen.imaging import make_grid, save_gif, save_mp4, save_png

    k = int(frames[0].shape[0])
    suffix = out.suffix.lower()
    if suffix == ".png":
        if len(frames) == 1:
            picture = make_grid(frames[0], nrow=nrow or min(k, 16), scale=scale)
        else:  # one row per model
            picture = make_grid(torch.cat(frames), nrow=k, row_labels=names, scale=scale)
        save_png(picture, out)
        return
    if len(frames) == 1:
        pictures = [make_grid(f[None], padding=0, scale=scale) for f in frames[0]]
    else:
        pictures = [make_grid(torch.stack([g[i] for g in frames]), nrow=len(frames), col_labels=names, scale=scale)
                    for i in range(k)]
    if suffix == ".gif":
        save_gif(pictures, out, fps=fps)
    else:
        save_mp4(pictures, out, fps=fps)
