"""Labels for the measuring commands: built-in ones (synthetic faces, MNIST digits) or a user's tag CSV.

A tag CSV has a ``filename`` column (``file`` or ``path`` also work) and one column per tag::

    filename,smile,hair,glasses
    0001.png,1,blonde,0
    0002.png,0,black,1

Column formats: ``0``/``1`` (a tag: one direction named like the column), numbers (continuous: top vs
bottom quartile), or class names (one direction per class, ``hair=blonde``). An empty cell is unknown.
Rows are matched to the data set's images by the source file name its prepared manifest recorded
(``files[i].source``; a ``#faceK`` crop suffix and folders are ignored when matching by base name).
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animegen.data.sources import ImageSet
from animegen.errors import AnimegenError, DataError
from animegen.latent.probe import LabelColumn, label_columns

FILE_COLUMNS = ("filename", "file", "path", "name")
MAX_CLASSES = 50


@dataclass
class CsvMatch:
    columns: list[LabelColumn]
    matched: int
    unmatched_rows: list[str] = field(default_factory=list)  # CSV file names with no image
    unlabelled_images: int = 0


def dataset_names(ds: ImageSet) -> list[str]:
    """The source file name of each image of ``ds``, as its manifest recorded them."""
    if ds.name.startswith("synth:"):
        from animegen.data.synthetic import png_name

        return [png_name(i) for i in range(len(ds))]  # the names `animegen synth --out` writes
    folder = ds.meta.get("path")
    if folder and (Path(folder) / "manifest.json").is_file():
        files = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8")).get("files")
        if isinstance(files, list) and len(files) == len(ds):
            return [str(f.get("source", "")) if isinstance(f, dict) else str(f) for f in files]
    raise DataError(f"{ds.name}: this data source records no file names, so a --labels CSV cannot be matched to it "
                    "(use a folder, an archive or a dataset written by `animegen prepare`)")


def _keys(name: str) -> tuple[str, str]:
    base = name.split("#face", 1)[0].replace("\\", "/")
    return base, base.rsplit("/", 1)[-1]


def _number(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


def _column(name: str, cells: list[str]) -> LabelColumn:
    filled = [c for c in cells if c != ""]
    if not filled:
        raise AnimegenError(f"--labels: column {name!r} is empty")
    if all(c in ("0", "1") for c in filled):
        vals = np.array([int(c) if c else -1 for c in cells], dtype=np.int64)
        return LabelColumn(name, vals, ("0", "1"))
    nums = [_number(c) for c in filled]
    if all(v is not None and np.isfinite(v) for v in nums):
        vals_f = np.array([float(c) if c else np.nan for c in cells], dtype=np.float32)
        lo, hi = float(np.nanmin(vals_f)), float(np.nanmax(vals_f))
        return LabelColumn(name, vals_f, None, lo, hi if hi > lo else lo + 1.0)
    if any(v is not None for v in nums):
        raise AnimegenError(f"--labels: column {name!r} mixes numbers and words; use 0/1 tags, numbers, or class "
                            "names in one column")
    classes = sorted(set(filled))
    if len(classes) > MAX_CLASSES or len(classes) < 2:
        raise AnimegenError(f"--labels: column {name!r} has {len(classes)} distinct values; a class column needs "
                            f"2..{MAX_CLASSES} class names (or use 0/1 tags or numbers)")
    index = {c: i for i, c in enumerate(classes)}
    return LabelColumn(name, np.array([index[c] if c else -1 for c in cells], dtype=np.int64), tuple(classes))


def labels_from_csv(path: str | os.PathLike, ds: ImageSet) -> CsvMatch:
    """Read a tag CSV (module doc) and align its rows with the images of ``ds``."""
    p = Path(path)
    if not p.is_file():
        raise AnimegenError(f"--labels {p}: no such file")
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AnimegenError(f"--labels {p}: unreadable CSV ({exc})") from None
    if len(rows) < 2:
        raise AnimegenError(f"--labels {p}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    file_col = next((i for i, h in enumerate(header) if h.lower() in FILE_COLUMNS), None)
    if file_col is None:
        raise AnimegenError(f"--labels {p}: no file-name column (name one of: {', '.join(FILE_COLUMNS)})")
    tag_cols = [i for i, h in enumerate(header) if i != file_col and h]
    if not tag_cols:
        raise AnimegenError(f"--labels {p}: no tag columns beside {header[file_col]!r}")
    names = dataset_names(ds)
    full: dict[str, int] = {}
    base: dict[str, int] = {}
    for i, n in enumerate(names):
        f, b = _keys(n)
        full.setdefault(f, i)
        base.setdefault(b, i)
    cells = {j: [""] * len(ds) for j in tag_cols}
    unmatched: list[str] = []
    matched = 0
    for r in rows[1:]:
        if not r or all(not c.strip() for c in r):
            continue
        r = [c.strip() for c in r] + [""] * (len(header) - len(r))
        f, b = _keys(r[file_col])
        hit = full.get(f, base.get(b))
        if hit is None:
            unmatched.append(r[file_col])
            continue
        matched += 1
        for j in tag_cols:
            cells[j][hit] = r[j]
    if matched == 0:
        raise AnimegenError(f"--labels {p}: none of its {len(unmatched)} file names matches an image of {ds.name} "
                            f"(e.g. {unmatched[0]!r} vs {names[0]!r})")
    cols = [_column(header[j], cells[j]) for j in tag_cols]
    labelled = np.zeros(len(ds), dtype=bool)
    for c in cols:
        labelled |= c.known()
    return CsvMatch(cols, matched, unmatched, int((~labelled).sum()))


def builtin_columns(ds: ImageSet) -> list[LabelColumn]:
    """The labels a data source carries (synthetic attributes, MNIST digits, prepared labels.npz)."""
    if not ds.labels:
        raise AnimegenError(f"{ds.name} carries no labels: pass --labels CSV (filename,tag1,tag2,...), or use the "
                            "synthetic faces (synth:N), whose attributes are known")
    return label_columns(ds.labels, ds.meta)
