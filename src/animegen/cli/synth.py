"""``animegen synth``: write the built-in procedural anime faces (PNGs + labels.csv + manifest.json)."""
from __future__ import annotations

import time
from pathlib import Path

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen synth --n 20000 --size 64 --out data/synth64

  animegen synth --n 20000 --size 64 --seed 1 --correlate --out data/synth64-corr   [dim]# coupled attributes[/dim]

  animegen synth --n 64 --size 64 --seed 0 --grid docs/images/synth_grid.png   [dim]# 8x8 contact sheet only[/dim]

Image i depends only on (seed, i): the same seed gives byte-identical PNGs whatever --n or --workers.
labels.csv has one row per image and one column per attribute; manifest.json lists the attributes.
In memory, use the data source synth:N[:SEED[:correlate]] (e.g. --data synth:20000)."""


def _check_out(out: Path, force: bool) -> None:
    from animegen.data.synth_folder import is_synth_dir
    from animegen.errors import AnimegenError

    if out.exists() and not out.is_dir():
        raise AnimegenError(f"--out {out} is a file; pass a folder path")
    if out.is_dir() and any(out.iterdir()) and not is_synth_dir(out) and not force:
        raise AnimegenError(f"--out {out} exists, is not empty and is not a synth folder; "
                            "pick another folder or pass --force to write beside its files")


@app.command("synth", epilog=EXAMPLES)
def synth_command(
    n: int = typer.Option(20000, "--n", "-n", help="Number of faces (>= 1)."),
    size: int = typer.Option(64, "--size", "-s", help="Image size in pixels: 32, 64, 128 (any size >= 16 works)."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                       help="Folder to write (built in a temp folder, then renamed)."),
    seed: int = typer.Option(0, "--seed", help="Dataset seed; image i is seeded from (seed, i)."),
    correlate: bool = typer.Option(False, "--correlate", help="Couple some attributes (eye hue follows hair hue, "
                                   "blush follows smiles, ...) for entangled-data experiments."),
    workers: int | None = typer.Option(None, "--workers", "-w", help="Rendering processes (default: all cores)."),
    grid: Path | None = typer.Option(None, "--grid", help="Also write a contact sheet PNG of the first "
                                        "min(n, 64) faces (with no --out, only the sheet)."),
    force: bool = typer.Option(False, "--force",
                               help="Write into an existing non-empty --out folder that is not a synth folder "
                                    "(its own files are kept; a file named like one of ours stops the command)."),
) -> None:
    """Render procedural anime faces with known attributes (PNGs + labels.csv + manifest.json)."""
    from animegen.data.synth_folder import write_dataset
    from animegen.data.synthetic import MIN_SIZE
    from animegen.errors import AnimegenError
    from animegen.progress import info

    if n < 1:
        raise AnimegenError(f"--n must be >= 1 (got {n})")
    if size < MIN_SIZE or size > 1024:
        raise AnimegenError(f"--size must be between {MIN_SIZE} and 1024 (got {size}); 32, 64 or 128 are typical")
    if seed < 0:
        raise AnimegenError(f"--seed must be >= 0 (got {seed})")
    if workers is not None and workers < 1:
        raise AnimegenError(f"--workers must be >= 1 (got {workers})")
    if out is None and grid is None:
        raise AnimegenError("nothing to write: pass --out FOLDER (and/or --grid FILE.png)")
    if grid is not None and grid.suffix.lower() != ".png":
        raise AnimegenError(f"--grid writes a PNG; pass a path ending in .png (got {grid})")
    if grid is not None:  # before any work: never over a file we did not write
        from animegen.fsutil import check_output

        check_output(grid, [out] if out is not None else [], kind="file", fmt="png", option="--grid")
    if out is not None:
        _check_out(out, force)
        t0 = time.perf_counter()
        write_dataset(out, n, size, seed, correlate, workers)
        dt = time.perf_counter() - t0
        info(f"wrote {n} faces ({size} px) to {out} in {dt:.1f} s ({n / dt:.0f} img/s)")
        typer.echo(str(out))
    if grid is not None:
        from animegen.data.synthetic import grid as contact_sheet
        from animegen.imaging import save_png

        save_png(contact_sheet(min(n, 64), size, seed, correlate, workers=workers), grid)
        typer.echo(str(grid))
