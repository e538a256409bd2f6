"""Folders of built-in faces: what ``animegen synth --out DIR`` writes (``000000.png …``, ``labels.csv``,
``manifest.json``), how such a folder is recognised, which of its files are ours, and reading it back as a data
source. The faces themselves come from :mod:`animegen.data.synthetic`.
"""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from animegen.data.synthetic import (
    ATTRIBUTE_NAMES,
    ATTRIBUTES,
    GENERATOR_VERSION,
    _check_size,
    fingerprint,
    iter_faces,
    open_synthetic,
    png_name,
)

if TYPE_CHECKING:
    from animegen.data.imageset import ImageSet


def labels_csv(labels: dict[str, np.ndarray], first_index: int = 0, files: Sequence[str] | None = None) -> str:
    """CSV text: ``index,file,<attributes...>``; categorical values as names, continuous with 4 decimals."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "file", *ATTRIBUTE_NAMES])
    n = len(labels[ATTRIBUTE_NAMES[0]])
    for j in range(n):
        row: list[Any] = [first_index + j, files[j] if files else ""]
        for at in ATTRIBUTES:
            v = labels[at.name][j]
            row.append(at.values[int(v)] if at.kind == "categorical" else f"{float(v):.4f}")
        w.writerow(row)
    return buf.getvalue()


def manifest(n: int, size: int, seed: int, correlate: bool) -> dict[str, Any]:
    return {
        "kind": "animegen-synth",
        "generator_version": GENERATOR_VERSION,
        "count": n,
        "size": size,
        "seed": seed,
        "correlate": correlate,
        "fingerprint": fingerprint(n, size, seed, correlate),
        "files": "%06d.png (index i, 0-based)",
        "attributes": [a.to_json() for a in ATTRIBUTES],
    }


def _synth_manifest(path: Path) -> dict[str, Any] | None:
    from animegen.fsutil import read_json_limited

    try:
        m = read_json_limited(Path(path) / "manifest.json")
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) and m.get("kind") == "animegen-synth" else None


def is_synth_dir(path: Path) -> bool:
    return _synth_manifest(path) is not None


def open_synth_dir(path: str | os.PathLike) -> ImageSet | None:
    """A folder written by ``animegen synth`` as the faces (with labels) it was rendered from, or ``None`` when
    it cannot be: another generator version, or PNGs missing (then it is read as a plain image folder).

    Its PNGs are lossless copies of ``synth:COUNT:SEED`` at the manifest's size, so they are re-rendered (or
    taken from the render cache) rather than decoded; labels come with them.
    """
    root = Path(path)
    m = _synth_manifest(root)
    if m is None or m.get("generator_version") != GENERATOR_VERSION:
        return None
    try:
        count, seed, size = int(m["count"]), int(m["seed"]), int(m["size"])
    except (KeyError, TypeError, ValueError):
        return None
    if count < 1 or not all((root / png_name(i)).is_file() for i in range(count)):
        return None
    ds = open_synthetic(f"{count}:{seed}{':correlate' if m.get('correlate') else ''}", size=size)
    ds.name = str(root)
    return ds


def owned_files(path: str | os.PathLike) -> set[str]:
    """The files of a synth folder that an earlier ``synth`` wrote: ``manifest.json``, ``labels.csv`` and
    the PNGs its manifest's ``count`` names. Empty for any other folder: nothing in it is ours."""
    m = _synth_manifest(Path(path))
    if m is None:
        return set()
    try:
        count = int(m.get("count", 0))
    except (TypeError, ValueError):
        count = 0
    names = {"manifest.json", "labels.csv"}
    for e in os.scandir(Path(path)):
        stem, _, ext = e.name.partition(".")
        if ext == "png" and stem.isdigit() and int(stem) < count and png_name(int(stem)) == e.name:
            names.add(e.name)
    return names


def write_dataset(out: str | os.PathLike, n: int, size: int = 64, seed: int = 0, correlate: bool = False,
                  workers: int | None = None, progress: bool = True) -> Path:
    """Write ``out/000000.png ...``, ``labels.csv`` and ``manifest.json`` atomically (temp folder, rename).

    An existing ``out`` keeps every file an earlier ``synth`` did not write there (only those listed by its
    manifest are replaced); a name of ours taken by someone else's file raises AnimegenError before any
    rendering."""
    from animegen.fsutil import atomic_dir, atomic_write_json, atomic_write_text, check_dir_output, check_output
    from animegen.progress import progress as _progress

    out = Path(out)
    size = _check_size(size)
    check_output(out, (), kind="dir")
    if out.is_dir():
        ours = owned_files(out)
        names = [png_name(i) for i in range(n)] + ["labels.csv", "manifest.json"]
        check_dir_output(out, names, ours)
    parts = []
    with atomic_dir(out, owned_files) as tmp:
        bar = _progress(total=n, desc=f"synth {size}px", unit="img") if progress else None
        try:
            for _, count, labels in iter_faces(n, size, seed, 0, correlate, workers, folder=tmp):
                parts.append(labels)
                if bar is not None:
                    bar.update(count)
        finally:
            if bar is not None:
                bar.close()
        labels = {k: np.concatenate([p[k] for p in parts]) for k in ATTRIBUTE_NAMES}
        files = [png_name(i) for i in range(n)]
        atomic_write_text(tmp / "labels.csv", labels_csv(labels, 0, files))
        atomic_write_json(tmp / "manifest.json", manifest(n, size, seed, correlate))
    return out
