"""The prepared-dataset folder: how ``animegen prepare`` writes it and how training loads it.

Layout::

    DATASET/
      images.npy      uint8 [N, H, W, C], one array, memory-mappable (np.load(mmap_mode=...))
      manifest.json   count, size, channels, source, options, fingerprint, split, stats, files (provenance)
      rejects.csv     path,reason,detail for every input that was dropped
      labels.npz      optional per-image labels (e.g. MNIST ``digit``)

The manifest's ``outputs`` lists these files. Preparing into an existing dataset folder replaces only
them (:func:`owned_files`); anything else a user put there is kept.

``fingerprint`` is the sha256 of the array's bytes (C order), so the same images in the same order
give the same fingerprint whatever machine or worker count produced them.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from animegen.data.imageset import ImageSet
from animegen.errors import DataError
from animegen.fsutil import atomic_write_text, read_json_limited, require_regular

FORMAT = "animegen-prepared"
VERSION = 1
IMAGES = "images.npy"
MANIFEST = "manifest.json"
REJECTS = "rejects.csv"
LABELS = "labels.npz"
RAW_TMP = "images.raw.tmp"
DATASET_FILES = (IMAGES, MANIFEST, REJECTS, LABELS, RAW_TMP)
"""Every name the dataset writer may create in a dataset folder."""


def owned_files(folder: str | os.PathLike) -> set[str]:
    """The files in ``folder`` that an earlier ``prepare`` wrote: its manifest's ``outputs`` (older manifests:
    the format's fixed names); empty when ``folder`` is not a prepared dataset."""
    try:
        m = read_manifest(folder)
    except DataError:
        return set()
    listed = m.get("outputs")
    names = set(listed) if isinstance(listed, list) and all(isinstance(x, str) for x in listed) else set(DATASET_FILES)
    return (names & set(DATASET_FILES)) | {MANIFEST, RAW_TMP}


class DatasetWriter:
    """Append same-sized uint8 images one at a time, then :meth:`finish` into ``folder``.

    Images are streamed to a raw scratch file (so memory stays flat for large datasets) and copied
    into ``images.npy`` at the end while hashing. ``folder`` should be a temporary directory that is
    renamed into place afterwards (:func:`animegen.fsutil.atomic_dir`).
    """

    raw_name = RAW_TMP

    def __init__(self, folder: str | os.PathLike, size: int, channels: int, append: bool = False):
        self.folder = Path(folder)
        self.shape = (size, size, channels)
        self.count = 0
        self._raw_path = self.folder / RAW_TMP
        self._raw = open(self._raw_path, "ab" if append else "wb")  # append: a resumed prepare (see resume)
        self._labels: dict[str, list[int]] = {}

    def flush(self) -> None:
        """Everything added so far is in the scratch file (for a resumable checkpoint)."""
        self._raw.flush()

    def labels_so_far(self) -> dict[str, list[int]]:
        return {k: list(v) for k, v in self._labels.items()}

    def resume(self, count: int, labels: dict[str, list[int]]) -> None:
        """Continue after ``count`` images already in the scratch file (opened with ``append=True``)."""
        size = self._raw_path.stat().st_size
        if size != count * int(np.prod(self.shape)):
            raise DataError(f"{self._raw_path} holds {size} bytes, not {count} images; delete the partial folder")
        self.count = count
        self._labels = {k: [int(x) for x in v] for k, v in labels.items()}

    def add(self, image: np.ndarray, labels: dict[str, int] | None = None) -> int:
        """Append one ``[H, W, C]`` uint8 image; returns its index."""
        if image.shape != self.shape or image.dtype != np.uint8:
            raise ValueError(f"expected uint8 {self.shape}, got {image.dtype} {image.shape}")
        self._raw.write(np.ascontiguousarray(image).tobytes())
        for k, v in (labels or {}).items():
            self._labels.setdefault(k, []).append(int(v))
        self.count += 1
        return self.count - 1

    def close(self) -> None:
        if not self._raw.closed:
            self._raw.close()

    def finish(self, manifest: dict[str, Any], rejects: Iterable[tuple[str, str, str]],
               chunk: int = 4096) -> str:
        """Write ``images.npy``, ``manifest.json`` (with count/shape/fingerprint filled in) and
        ``rejects.csv``; returns the fingerprint."""
        self.close()
        n = self.count
        shape = (n, *self.shape)
        digest = hashlib.sha256()
        block_bytes = chunk * int(np.prod(self.shape))
        # plain reads and writes, not memory maps: mapped pages would count in this process's resident
        # memory (12 GB for a million 64 px images)
        with open(self.folder / IMAGES, "wb") as out, open(self._raw_path, "rb") as raw:
            np.lib.format.write_array_header_1_0(out, {"descr": "|u1", "fortran_order": False, "shape": shape})
            left = n * int(np.prod(self.shape))
            while left > 0:
                block = raw.read(min(block_bytes, left))
                if not block:
                    raise DataError(f"{self._raw_path} is shorter than its {n} images")
                digest.update(block)
                out.write(block)
                left -= len(block)
            out.flush()
            os.fsync(out.fileno())
        self._raw_path.unlink(missing_ok=True)
        fingerprint = digest.hexdigest()
        if self._labels:
            # typed Any: numpy's stub would otherwise match the **kwargs against savez's allow_pickle: bool
            arrays: dict[str, Any] = {k: np.asarray(v, dtype=np.int64) for k, v in self._labels.items()}
            np.savez(self.folder / LABELS, **arrays)
        m = {"format": FORMAT, "version": VERSION, "count": n, "shape": list(shape), "dtype": "uint8",
             "size": self.shape[0], "channels": self.shape[2], "fingerprint": fingerprint,
             "labels": sorted(self._labels), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "outputs": [IMAGES, MANIFEST, REJECTS] + ([LABELS] if self._labels else [])}
        m.update({k: v for k, v in manifest.items() if k not in m})
        write_manifest(self.folder / MANIFEST, m)
        write_rejects(self.folder / REJECTS, rejects)
        return fingerprint


def write_rejects(path: Path, rejects: Iterable[tuple[str, str, str]]) -> None:
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "reason", "detail"])
    for row in rejects:
        w.writerow(row)
    atomic_write_text(path, buf.getvalue())


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """JSON with one line per ``files`` entry and the split lists on one line each (compact but diffable)."""
    lines = ["{"]
    items = list(manifest.items())
    for i, (k, v) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        key = json.dumps(k)
        if k == "files" and isinstance(v, list):
            if not v:
                lines.append(f"  {key}: []{comma}")
                continue
            lines.append(f"  {key}: [")
            lines += [f"    {json.dumps(e, separators=(',', ':'), default=str)}" + ("," if j < len(v) - 1 else "")
                      for j, e in enumerate(v)]
            lines.append(f"  ]{comma}")
        elif k == "split" and isinstance(v, dict):
            inner = ", ".join(f"{json.dumps(a)}: {json.dumps(b, separators=(',', ':'))}" for a, b in v.items())
            lines.append(f"  {key}: {{{inner}}}{comma}")
        elif isinstance(v, list):
            lines.append(f"  {key}: {json.dumps(v, default=str)}{comma}")
        else:
            text = json.dumps(v, indent=2, default=str).replace("\n", "\n  ")
            lines.append(f"  {key}: {text}{comma}")
    lines.append("}")
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    folder = Path(path)
    mpath = folder / MANIFEST
    if not mpath.is_file():
        raise DataError(f"{folder} is not a prepared dataset: {MANIFEST} is missing (run animegen prepare)")
    try:
        m = read_json_limited(mpath)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{mpath} is unreadable or corrupt ({exc}); re-run animegen prepare") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        found = m.get("format") if isinstance(m, dict) else None
        raise DataError(f"{mpath} is not an animegen prepared-dataset manifest (format {found!r})")
    if int(m.get("version", 0)) > VERSION:
        raise DataError(f"{mpath} was written by a newer animegen (format version {m['version']} > {VERSION}); "
                        "upgrade animegen")
    return m


def load_prepared(path: str | os.PathLike, mmap: bool = True, verify: bool = False) -> ImageSet:
    """Load a prepared dataset folder in milliseconds.

    ``mmap=True`` maps ``images.npy`` copy-on-write (``mmap_mode="c"``): nothing is read until used,
    and in-place edits stay in memory. ``verify=True`` re-hashes the array against the manifest.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"prepared dataset not found: {folder}")
    m = read_manifest(folder)
    ipath = folder / IMAGES
    if not ipath.is_file():
        raise DataError(f"{folder}: {IMAGES} is missing; re-run animegen prepare")
    try:
        require_regular(ipath)
        images = np.load(ipath, mmap_mode="c" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{ipath} is corrupt or truncated ({exc}); re-run animegen prepare") from None
    expect = tuple(m.get("shape") or ())
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] not in (1, 3):
        raise DataError(f"{ipath} holds {images.dtype} {images.shape}; expected uint8 [N, H, W, 1 or 3]")
    if expect and tuple(images.shape) != expect or images.shape[0] != int(m.get("count", -1)):
        raise DataError(f"{ipath} holds {images.shape} but {MANIFEST} says count {m.get('count')} shape {expect}; "
                        "the folder is inconsistent: re-run animegen prepare")
    fingerprint = str(m.get("fingerprint") or "")
    if verify or not fingerprint:
        actual = hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()
        if fingerprint and actual != fingerprint:
            raise DataError(f"{ipath} does not match the fingerprint in {MANIFEST} (content changed); "
                            "re-run animegen prepare")
        fingerprint = actual
    n = images.shape[0]
    val_mask = None
    split = m.get("split")
    if isinstance(split, dict) and split.get("val") is not None:
        val = np.asarray(split["val"], dtype=np.int64)
        if val.size and (val.min() < 0 or val.max() >= n):
            raise DataError(f"{MANIFEST}: split index out of range for {n} images")
        val_mask = np.zeros(n, dtype=bool)
        val_mask[val] = True
    labels = None
    if m.get("labels"):
        try:
            require_regular(folder / LABELS)
            with np.load(folder / LABELS, allow_pickle=False) as z:
                labels = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"{folder / LABELS} is missing or corrupt ({exc}); re-run animegen prepare") from None
        if any(len(v) != n for v in labels.values()):
            raise DataError(f"{folder / LABELS} does not have {n} entries per label; re-run animegen prepare")
    meta = {k: v for k, v in m.items() if k not in ("files", "split")}
    meta["path"] = str(folder)
    return ImageSet(images, str(m.get("name") or folder.name), fingerprint, labels, val_mask, meta)
