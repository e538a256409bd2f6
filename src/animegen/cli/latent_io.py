"""What the latent editing commands (interpolate, blend, perturb) share: loading, output checks, inputs, notes,
JSON beside the images, and turning decoded tensors into pictures."""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import typer
from torch import Tensor

from animegen.errors import AnimegenError


class OptionError(AnimegenError):
    """An option value outside its range (one ``error:`` line, like every user error)."""


def require(ok: bool, message: str) -> None:
    if not ok:
        raise OptionError(message)


def load(checkpoint: Path):
    """A checkpoint file or run folder → ``(model, resolved path)``."""
    from animegen.checkpoint import load_model
    from animegen.cli.sample import resolve_checkpoint

    path = resolve_checkpoint(checkpoint)
    return load_model(path), path


def spec_files(specs: Sequence[str]) -> list[Path]:
    """The files a list of code specs reads (image files, codes files), for the never-overwrite-an-input check."""
    files = []
    for spec in specs:
        scheme, _, rest = str(spec).partition(":")
        if scheme == "codes":
            files.append(Path(rest.rpartition("#")[0] if "#" in rest else rest))
        elif Path(spec).exists():
            files.append(Path(spec))
    return files


def check_outputs(out: Path, suffixes: Sequence[str], inputs: Sequence[str | Path]) -> Path:
    """Validate ``--out`` (suffix, never an input) and its JSON sidecar before any work; returns the JSON path."""
    from animegen.fsutil import check_output

    check_output(out, inputs, kind="file")
    if out.suffix.lower() not in suffixes:
        raise OptionError(f"--out {out}: write {' or '.join(suffixes)} (the format follows the file name)")
    sidecar = out.with_suffix(".json")
    check_output(sidecar, inputs, kind="file")
    return sidecar


def resolve(model, specs: Sequence[str], invert: bool):
    """Code specs → Codes, with a clear message when ``--invert`` is asked for but inversion is not installed."""
    from animegen.latent.codes import resolve_codes

    try:
        return resolve_codes(model, list(specs), invert=invert)
    except ModuleNotFoundError as exc:
        if "animegen.latent.invert" in str(exc):
            raise AnimegenError("--invert needs animegen.latent.invert, which this animegen does not have; "
                                "pass seed:N or codes:FILE#I inputs") from None
        raise


def model_info(model, path: Path) -> dict[str, Any]:
    header = getattr(model, "checkpoint_header", {}) or {}
    return {"checkpoint": str(path), "family": model.family, "latent_dim": model.latent_dim,
            "size": model.spec.size, "channels": model.spec.channels, "step": header.get("step")}


def say_notes(notes: Sequence[str]) -> None:
    """Each note as one line on stderr (printed even with --quiet: they change what the user gets)."""
    for note in dict.fromkeys(notes):  # unique, in order
        print(f"note: {note}", file=sys.stderr, flush=True)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    from animegen.fsutil import atomic_write_json

    atomic_write_json(path, payload, mark=True)


def say_written(*paths: Path) -> None:
    for p in paths:
        typer.echo(str(p))


def scale_for(size: int) -> int:
    """Enlarge small images (MNIST 28 px, 32 px) in written pictures so they can be seen."""
    return 4 if size <= 32 else 2 if size <= 48 else 1


def to_rgb(images: Tensor) -> Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images  # [N, 3, H, W]


def match_frames(groups: Sequence[Tensor]) -> list[Tensor]:
    """Image batches of different sizes/channels → RGB at the largest size (for side-by-side pictures)."""
    from animegen.imaging import resize_tensor

    size = max(int(g.shape[-1]) for g in groups)
    mixed = len({int(g.shape[1]) for g in groups}) > 1
    return [resize_tensor(to_rgb(g) if mixed else g, size).clamp(-1, 1) for g in groups]


def stack_pictures(pictures: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """uint8 ``[H, W, 3]`` pictures one above the other, left-aligned on white."""
    width = max(p.shape[1] for p in pictures)
    parts = []
    for i, p in enumerate(pictures):
        if i:
            parts.append(np.full((gap, width, 3), 255, np.uint8))
        parts.append(np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0)), constant_values=255))
    return np.concatenate(parts)

