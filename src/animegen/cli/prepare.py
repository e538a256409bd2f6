"""``animegen prepare``: turn a folder/archive/HF dataset/MNIST of images into a training dataset."""
from __future__ import annotations

from pathlib import Path

import typer

from animegen.cli.app import app

EXAMPLES = [
    "animegen prepare ~/faces --size 64 --out data/faces64",
    "animegen prepare faces.zip --val-fraction 0.05 --out data/faces64",
    "animegen prepare ~/illustrations --crop detect --margin 0.3 --min-face 48 --out data/detected64",
    "animegen prepare art.tar.gz --crop detect --detector cascade --cascade lbpcascade_animeface.xml --out data/lbp64",
    "animegen prepare ~/illustrations --crop detect --limit 200 --preview preview.png   (a dry run: look first)",
    "animegen prepare hf:user/anime-faces --out data/hf64",
    "animegen prepare mnist:~/mnist --size 28 --channels 1 --out data/mnist28",
    "animegen prepare ~/crawl --keep-list cleaned/keep.txt --out data/clean64   (keep.txt from animegen outliers)",
]
EPILOG = "Examples:\n\n" + "\n\n".join(EXAMPLES)


@app.command(epilog=EPILOG)
def prepare(
    source: str = typer.Argument(..., help="A folder (searched recursively), .zip, .tar(.gz), hf:NAME (HF dataset name "
                                            "or local imagefolder path, hf:NAME:SPLIT) or mnist:DIR[:test]."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Dataset folder to write (an existing dataset: only "
                                                              "the files prepare wrote there are replaced)."),
    size: int = typer.Option(64, "--size", help="Side of the square output images, in pixels."),
    crop: str = typer.Option("none", "--crop", help="none: inputs are face crops (centre square); "
                                                    "detect: find anime faces in full illustrations."),
    channels: int = typer.Option(3, "--channels", help="3 for RGB, 1 for grayscale."),
    detector: str = typer.Option("auto", "--detector",
                                 help="Face detector for --crop detect: auto, animeface or cascade."),
    cascade: Path | None = typer.Option(None, "--cascade", help="OpenCV cascade XML for the cascade detector "
                                                                "(e.g. lbpcascade_animeface.xml)."),
    min_face: int | None = typer.Option(None, "--min-face",
                                        help="Smallest face side kept, in source pixels "
                                        "(default: size / (1 + 2 margin), i.e. no upscaling)."),
    min_confidence: float = typer.Option(0.0, "--min-confidence", help="Smallest detector score kept (0..1)."),
    max_faces: int = typer.Option(0, "--max-faces", help="At most this many faces per image, best first (0 = all)."),
    margin: float = typer.Option(0.25, "--margin",
                                 help="Context added on each side of a face box, as a fraction of its side."),
    min_side: int | None = typer.Option(None, "--min-side", help="--crop none: drop images whose shorter side is below "
                                                                 "this (default: size / 2)."),
    dedup: bool = typer.Option(True, "--dedup/--no-dedup", help="Drop near-duplicates (dHash)."),
    dedup_threshold: int = typer.Option(3, "--dedup-threshold", help="Max Hamming distance (of 64 bits) that counts as "
                                                                     "a duplicate; 0 = identical hashes only."),
    val_fraction: float = typer.Option(0.0, "--val-fraction",
                                       help="Share of images listed as validation in the manifest."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/val split."),
    max_pixels: int = typer.Option(100_000_000, "--max-pixels",
                                   help="Larger images are refused (decompression bombs)."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N inputs (quick looks, previews)."),
    preview: Path | None = typer.Option(None, "--preview", help="Write a PNG grid of kept and dropped images, row "
                                                                "per reason; without --out it is a dry run."),
    workers: int = typer.Option(0, "--workers", "-j", help="Worker processes (0 = all cores; 1 = no pool)."),
    keep_list: Path | None = typer.Option(None, "--keep-list", help="Keep only the inputs named in this file (one "
                                          "source name per line, as `animegen outliers` writes keep.txt); the "
                                          "rest are rejects 'not-in-keep-list'."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue a prepare of the same source and "
                                "options into --out that was killed or interrupted (progress is checkpointed "
                                "every 16,384 inputs in a hidden folder beside --out); --no-resume starts over."),
) -> None:
    """Prepare a dataset: decode, clean, crop, resize, de-duplicate; one memory-mappable array.

    Writes DATASET/images.npy (uint8 [N, H, W, C]), manifest.json (count, source, options, fingerprint, split, \
per-image provenance and box) and rejects.csv (every dropped input and why).

    Broken, unreadable, tiny or oversized files are skipped and counted, never fatal; animated images give \
their first frame. The folder appears only when complete; a killed run continues when started again.
    """
    # (a backslash at a line end joins the lines: the --help text keeps one line per paragraph)
    from animegen.data.pipeline import PrepareOptions
    from animegen.data.prepare import prepare as run_prepare
    from animegen.progress import is_quiet

    opts = PrepareOptions(size=size, crop=crop, channels=channels, min_side=min_side, detector=detector,
                          cascade=str(cascade) if cascade else None, min_face=min_face, min_confidence=min_confidence,
                          max_faces=max_faces, margin=margin, dedup=dedup, dedup_threshold=dedup_threshold,
                          val_fraction=val_fraction, seed=seed, max_pixels=max_pixels, limit=limit)
    if opts.crop == "none" and (cascade or detector != "auto"):
        typer.echo("note: --detector/--cascade only matter with --crop detect", err=True)
    keep = None
    if keep_list is not None:
        from animegen.data.keeplist import read_keep_list

        keep = read_keep_list(keep_list)
    report = run_prepare(source, out, opts, workers=workers, preview=preview, quiet=True, keep=keep,
                         resume=resume)
    if not is_quiet():
        typer.echo(report.summary())
