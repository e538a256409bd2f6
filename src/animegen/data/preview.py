"""The ``--preview`` picture: rows of what ``prepare`` keeps and what it drops, labelled by reason."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from animegen.imaging import make_grid


def placeholder(size: int) -> np.ndarray:
    """A grey tile with a cross, standing for an input that could not be decoded at all."""
    im = Image.new("RGB", (size, size), (215, 215, 215))
    d = ImageDraw.Draw(im)
    d.line((4, 4, size - 5, size - 5), fill=(150, 150, 150), width=max(1, size // 24))
    d.line((4, size - 5, size - 5, 4), fill=(150, 150, 150), width=max(1, size // 24))
    return np.asarray(im)


def _rgb(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        a = a[..., None]
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a


def preview_grid(kept: list[np.ndarray], dropped: dict[str, list[np.ndarray | None]], counts: dict[str, int],
                 n_kept: int, size: int, per_row: int = 8, kept_rows: int = 2) -> np.ndarray:
    """uint8 ``[H, W, 3]`` grid: up to ``kept_rows`` rows of kept crops, then one row per drop reason.

    ``dropped[reason]`` holds thumbnails (None for undecodable inputs, drawn as a crossed tile);
    ``counts`` the full count per reason, written in the row label.
    """
    blank = np.full((size, size, 3), 255, np.uint8)
    tiles: list[np.ndarray] = []
    labels: list[str] = []

    def add_row(images: list[np.ndarray], label: str) -> None:
        row = [_rgb(a) for a in images[:per_row]] + [blank] * (per_row - min(per_row, len(images)))
        tiles.extend(row)
        labels.append(label)

    kept = kept[: per_row * kept_rows]
    for r in range(max(1, (len(kept) + per_row - 1) // per_row)):
        add_row(kept[r * per_row:(r + 1) * per_row], f"kept ({n_kept:,})" if r == 0 else "")
    for reason in sorted(dropped, key=lambda k: (-counts.get(k, 0), k)):
        thumbs = [placeholder(size) if t is None else t for t in dropped[reason]]
        add_row(thumbs, f"{reason} ({counts.get(reason, len(thumbs)):,})")
    scale = max(1, 64 // size)
    return make_grid(np.stack(tiles), nrow=per_row, row_labels=labels, scale=scale)
