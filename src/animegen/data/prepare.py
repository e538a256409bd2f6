"""``animegen prepare``: raw images in (folder, zip, tar, hf:NAME, mnist:DIR), one clean dataset out.

    >>> report = prepare("illustrations/", "data/faces64", PrepareOptions(size=64, crop="detect"))
    >>> print(report.summary())
    kept 1,204 faces from 1,050 of 1,310 images (dropped: 240 no-face, 16 truncated, 12 duplicate) → data/faces64

Steps per input (in worker processes, :mod:`animegen.data.pipeline`): decode (never trusting the
file, :mod:`animegen.data.decode`), convert to RGB/L, crop (centre square, or faces found by
:mod:`animegen.data.detect`), antialiased resize, dHash. Then, in input order: near-duplicate removal
(:mod:`animegen.data.dedup`), the optional train/val split, and the dataset folder
(:mod:`animegen.data.prepared`), built under a temporary name and renamed into place only when
complete, so Ctrl-C or a crash never leaves a half dataset behind. Preparing over an existing dataset
replaces only the files an earlier ``prepare`` wrote there; files a user added are kept.

:func:`open_or_prepare` is the path ``--data FOLDER|ARCHIVE|hf:NAME`` takes: prepared once with
``--crop none`` into ``$ANIMEGEN_CACHE/datasets/<key>`` (default ``~/.cache/animegen``), reused after.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from animegen.data.dedup import NearDuplicateIndex
from animegen.data.imageset import ImageSet
from animegen.data.pipeline import ItemResult, PrepareOptions, chunk_size, process_items
from animegen.data.prepare_resume import CHECKPOINT_EVERY, Journal, run_key
from animegen.data.prepared import IMAGES, LABELS, MANIFEST, VERSION, DatasetWriter, load_prepared, owned_files
from animegen.data.prepared import REJECTS as REJECTS_CSV
from animegen.data.readers import Reader, open_reader
from animegen.errors import AnimegenError, DataError
from animegen.fsutil import atomic_dir, check_output
from animegen.progress import info, progress

__all__ = ["PrepareOptions", "PrepareReport", "prepare", "open_or_prepare", "cache_dir"]


@dataclass
class PrepareReport:
    """What a run did; :meth:`summary` is the one line the CLI prints."""

    out: str | None
    count: int
    inputs: int
    kept_inputs: int
    dropped: dict[str, int]
    crop: str
    fingerprint: str | None = None
    seconds: float = 0.0
    preview: str | None = None
    ignored_files: int = 0
    notes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        what = (f"kept {self.count:,} of {self.inputs:,} images" if self.crop == "none"
                else f"kept {self.count:,} faces from {self.kept_inputs:,} of {self.inputs:,} images")
        if self.dropped:
            what += " (dropped: " + ", ".join(f"{n:,} {r}" for r, n in _by_count(self.dropped)) + ")"
        if self.out:
            what += f" → {self.out}"
        elif self.preview:
            what += f" (dry run; preview → {self.preview})"
        return what


def _by_count(d: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))


class _Collector:
    """Turns ordered :class:`ItemResult` s into kept images, provenance and reject rows."""

    def __init__(self, opts: PrepareOptions, writer: DatasetWriter, preview: bool, per_row: int = 8,
                 keep: set[str] | None = None):
        self.opts = opts
        self.keep = keep
        self.writer = writer
        self.index = NearDuplicateIndex(opts.dedup_threshold) if opts.dedup else None
        self.inputs = 0
        self.kept_inputs = 0
        self.dropped: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()
        self.rejects: list[tuple[str, str, str]] = []
        self.files: list[dict[str, Any]] = []
        self.preview = preview
        self.per_row = per_row
        self.kept_thumbs: list[np.ndarray] = []
        self.dropped_thumbs: dict[str, list[np.ndarray | None]] = {}

    def _drop(self, name: str, reason: str, detail: str, thumb: np.ndarray | None) -> None:
        self.dropped[reason] += 1
        self.rejects.append((name, reason, detail))
        if self.preview:
            lst = self.dropped_thumbs.setdefault(reason, [])
            if len(lst) < self.per_row:
                lst.append(thumb)

    def add(self, res: ItemResult) -> None:
        self.inputs += 1
        for note in res.notes:
            self.notes[note.split(":")[0]] += 1
        if res.extra_faces:
            self.notes["faces over --max-faces"] += res.extra_faces
        if res.reason:
            self._drop(res.name, res.reason, res.detail, res.thumb)
            return
        kept_any = False
        for k, crop in enumerate(res.crops):
            name = res.name if self.opts.crop == "none" else f"{res.name}#face{k}"
            if self.keep is not None and name not in self.keep and res.name not in self.keep:
                self._drop(name, "not-in-keep-list", "", crop.pixels)
                continue
            if self.index is not None:
                m = self.index.match(crop.hash)
                if m is not None:
                    self._drop(name, "duplicate", f"of {self.files[m[0]]['source']} (dHash distance {m[1]})",
                               crop.pixels)
                    continue
            i = self.writer.add(crop.pixels, res.labels)
            if self.index is not None:
                self.index.add(crop.hash, i)
            entry: dict[str, Any] = {"source": name, "box": list(crop.box)}
            if crop.face is not None:
                entry["face"] = list(crop.face[:4])
                entry["score"] = crop.face[4]
            if res.notes:
                entry["notes"] = res.notes
            self.files.append(entry)
            kept_any = True
            if self.preview and len(self.kept_thumbs) < 2 * self.per_row:
                self.kept_thumbs.append(crop.pixels)
        self.kept_inputs += kept_any


def _split(n: int, fraction: float, seed: int) -> dict[str, Any] | None:
    if fraction <= 0 or n < 2:
        return None
    n_val = min(n - 1, max(1, int(round(n * fraction))))
    val = np.sort(np.random.default_rng(seed).permutation(n)[:n_val])
    mask = np.zeros(n, bool)
    mask[val] = True
    return {"seed": seed, "val_fraction": fraction, "val": val.tolist(), "train": np.flatnonzero(~mask).tolist()}


def _check_out(out: Path, source_location: str) -> None:
    """An existing dataset folder may be prepared again (only its own files are replaced; a user's extra
    files are kept); any other non-empty folder is refused."""
    if out.exists():
        if not out.is_dir():
            raise DataError(f"--out {out} exists and is a file; choose a folder name")
        if not (out / MANIFEST).is_file() and any(out.iterdir()):
            raise DataError(f"--out {out} exists and is not a prepared dataset; choose a new folder "
                            "(prepare writes only into a new folder or an earlier dataset)")
    try:
        if Path(source_location).resolve() == out.resolve():
            raise DataError("--out must differ from the source folder")
    except OSError:
        pass
    check_output(out, [source_location], kind="dir")


def prepare(source: str | Reader, out: str | os.PathLike | None, opts: PrepareOptions | None = None,
            workers: int = 0, preview: str | os.PathLike | None = None, quiet: bool = False,
            name: str | None = None, keep: set[str] | None = None, resume: bool = True) -> PrepareReport:
    """Build the dataset folder ``out`` from ``source`` (see the module doc). Returns a report.

    ``out=None`` with ``preview`` is a dry run: only the preview picture is written. ``name`` (default:
    the folder name of ``out``) is the dataset's name in its manifest. Raises DataError for a
    missing/empty source or when no image at all is kept. Uses worker processes unless ``workers=1``:
    scripts must call it under ``if __name__ == "__main__":``. ``keep``: only inputs whose names are in
    this set (a keep-list, :mod:`animegen.data.keeplist`) are kept; the others become ``not-in-keep-list``
    rejects without being decoded. ``resume`` (with ``out`` and no ``keep``): progress is checkpointed in a
    work folder beside ``out`` and a run that was killed continues from there (:mod:`animegen.data.prepare_resume`);
    ``resume=False`` starts over.
    """
    opts = opts or PrepareOptions()
    reader = source if isinstance(source, Reader) else open_reader(source)
    if out is None and preview is None:
        raise AnimegenError("nothing to write: pass --out DATASET (or --preview PNG for a dry run)")
    out_path = Path(out).expanduser() if out is not None else None
    if out_path is not None:
        _check_out(out_path, reader.location)
    if preview is not None:
        check_output(preview, [reader.location], kind="file", fmt="png", option="--preview")
    items = iter(reader)
    total = reader.total
    if opts.limit:
        items = itertools.islice(items, opts.limit)
        total = min(total, opts.limit) if total is not None else opts.limit
    skipped: list[str] = []
    if keep is not None:
        items = _filter_keep(items, keep, skipped)
    if total is not None and total <= chunk_size(opts):
        workers = 1  # one task's worth: a pool would only add its start-up time
    t0 = time.perf_counter()
    journal = None
    if out_path is not None and keep is None:
        journal = Journal(out_path, run_key(reader.signature, reader.location, opts.to_dict(), name or out_path.name))
        if not resume:
            journal.discard()
    with contextlib.ExitStack() as stack:
        state = journal.open() if journal is not None else None
        target: contextlib.AbstractContextManager[str | Path] = (
            contextlib.nullcontext(journal.dir) if journal is not None
            else atomic_dir(out_path, owned_files) if out_path is not None else tempfile.TemporaryDirectory())
        tmp = Path(stack.enter_context(target))
        writer = DatasetWriter(tmp, opts.size, opts.channels, append=state is not None)
        stack.callback(writer.close)
        col = _Collector(opts, writer, preview is not None, keep=keep)
        done = journal.restore(col, writer) if journal is not None else 0
        if done:
            items = itertools.islice(items, done, None)  # already consumed: not read again
            info(f"resuming an interrupted prepare of {out_path}: {done:,} inputs already done "
                 f"({writer.count:,} images kept)")
        bar = stack.enter_context(progress(total=total, initial=done,
                                           desc=f"prepare {Path(reader.location).name or reader.spec}", unit="img"))
        try:
            for res in process_items(items, opts, workers, thumbs=preview is not None):
                col.add(res)
                bar.update(1)
                if col.inputs % 256 == 0:
                    bar.set_postfix(kept=writer.count, dropped=sum(col.dropped.values()), refresh=False)
                if journal is not None and col.inputs % CHECKPOINT_EVERY == 0:
                    journal.save(col, writer)
        except KeyboardInterrupt:
            if journal is not None:  # every result so far is collected: keep it all for the next run
                journal.save(col, writer)
                info(f"interrupted after {col.inputs:,} inputs; the same command continues from there")
            raise
        bar.close()
        for skip in skipped:  # inputs the keep-list left out: counted and listed like any other reject
            col.inputs += 1
            col._drop(skip, "not-in-keep-list", "", None)
        report = PrepareReport(str(out_path) if out_path else None, writer.count, col.inputs, col.kept_inputs,
                               dict(col.dropped), opts.crop, ignored_files=reader.ignored, notes=dict(col.notes))
        if preview is not None:
            from animegen.data.preview import preview_grid
            from animegen.imaging import save_png

            save_png(preview_grid(col.kept_thumbs, col.dropped_thumbs, col.dropped, writer.count, opts.size), preview)
            report.preview = str(preview)
        if writer.count == 0:
            if journal is not None:
                journal.discard()
            first = f"; e.g. {col.rejects[0][0]}: {col.rejects[0][1]} ({col.rejects[0][2]})" if col.rejects else ""
            raise DataError(f"no images kept from {reader.spec}: {report.summary()}{first}")
        report.seconds = time.perf_counter() - t0
        if out_path is not None:
            manifest = {
                "name": name or out_path.name,
                "source": reader.describe(),
                "options": opts.to_dict(),
                "stats": {"inputs": col.inputs, "kept_inputs": col.kept_inputs, "kept": writer.count,
                          "dropped": dict(_by_count(col.dropped)), "ignored_files": reader.ignored,
                          "notes": dict(col.notes), "seconds": round(report.seconds, 2)},
                "split": _split(writer.count, opts.val_fraction, opts.seed),
                "files": col.files,
            }
            report.fingerprint = writer.finish(manifest, col.rejects)
            if journal is not None:  # the finished dataset files move into place at once; the work folder goes
                with atomic_dir(out_path, owned_files) as final_tmp:
                    for f in (IMAGES, MANIFEST, REJECTS_CSV, LABELS):
                        if (tmp / f).exists():
                            os.replace(tmp / f, final_tmp / f)
                journal.discard()
    if not quiet:
        info(report.summary())
    return report


def _filter_keep(items, keep: set[str], skipped: list[str]):
    """The items named in ``keep`` (also by ``NAME#faceK`` entries of a ``--crop detect`` keep-list); the
    others' names go to ``skipped``."""
    wanted = keep | {k.rsplit("#face", 1)[0] for k in keep if "#face" in k}
    for it in items:
        if it.name in wanted:
            yield it
        else:
            skipped.append(it.name)


# ----------------------------------------------------------------------------- the cache behind --data


def cache_dir() -> Path:
    """``$ANIMEGEN_CACHE/datasets`` (default ``~/.cache/animegen/datasets``)."""
    root = os.environ.get("ANIMEGEN_CACHE") or str(Path.home() / ".cache" / "animegen")
    return Path(root).expanduser() / "datasets"


def cache_key(reader: Reader, opts: PrepareOptions) -> str:
    """Source location + listing signature (names, sizes, mtimes) + options + format version."""
    blob = json.dumps({"format": VERSION, "kind": reader.kind, "location": reader.location,
                       "signature": reader.signature, "options": opts.to_dict()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def open_or_prepare(spec: str, size: int = 64, quiet: bool = False, workers: int = 0) -> ImageSet:
    """A raw folder / archive / ``hf:`` source as an ImageSet, prepared (``--crop none``) once and cached."""
    reader = open_reader(spec)
    opts = PrepareOptions(size=size, crop="none")
    folder = cache_dir() / cache_key(reader, opts)
    if (folder / MANIFEST).is_file():
        try:
            return load_prepared(folder)
        except DataError:
            pass  # a damaged cache entry: rebuild it below
    if not quiet:
        info(f"preparing {spec} at {size} px into the cache {folder} (once; reused while the source is unchanged)")
    prepare(reader, folder, opts, workers=workers, quiet=quiet, name=Path(reader.location).name or spec)
    ds = load_prepared(folder)
    ds.meta["source_spec"] = spec
    return ds
