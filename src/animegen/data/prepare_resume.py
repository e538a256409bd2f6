"""Resumable ``animegen prepare``: a killed or interrupted run continues where it stopped.

``prepare(..., out=DATASET)`` builds the dataset in a fixed work folder beside it,
``.<DATASET name>.prepare-partial/``, and every :data:`CHECKPOINT_EVERY` inputs it makes its progress
durable there (:meth:`Journal.save`):

* ``images.raw.tmp``: the kept images so far (flushed and fsynced);
* ``files.jsonl`` / ``rejects.jsonl``: the provenance entries and reject rows so far (append-only);
* ``hashes.u64``: the dHash of every kept image (rebuilds the near-duplicate index);
* ``journal.json`` (written last, atomically): how many inputs were consumed, the counters, the byte
  lengths of the files above, and the key of the run (source listing signature + options + name).

Started again with the same source and options, ``prepare`` truncates those files to the lengths the
journal records (anything written after the last checkpoint is dropped), skips the inputs already
consumed, and goes on; the result is byte-identical to an uninterrupted run. A different source or
different options discard the partial work. When complete, the dataset files move into place in one
step (:func:`animegen.fsutil.atomic_dir`) and the work folder is deleted. Runs with a keep-list
(``--keep-list``) are not resumable (they start over).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from animegen.fsutil import atomic_write_text

JOURNAL = "journal.json"
FILES = "files.jsonl"
REJECTS = "rejects.jsonl"
HASHES = "hashes.u64"
CHECKPOINT_EVERY = 16384
"""Inputs between two durable checkpoints (a kill loses at most this much work)."""
JOURNAL_VERSION = 1


def work_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.prepare-partial"


def run_key(signature: str, location: str, options: dict[str, Any], name: str) -> str:
    blob = json.dumps({"v": JOURNAL_VERSION, "signature": signature, "location": location, "options": options,
                       "name": name}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b" if path.exists() else "w+b") as fh:
        fh.truncate(size)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """The work folder of one resumable prepare (see the module doc)."""

    def __init__(self, out: Path, key: str):
        self.dir = work_dir(out)
        self.key = key
        self.state: dict[str, Any] | None = None
        self._files_saved = 0  # entries of col.files / col.rejects already on disk
        self._rejects_saved = 0
        self._hashes_saved = 0

    def open(self) -> dict[str, Any] | None:
        """The saved state when the work folder holds a matching journal (files truncated to it), else None
        (the folder is then emptied for a fresh start)."""
        state = None
        try:
            state = json.loads((self.dir / JOURNAL).read_text())
        except (OSError, ValueError):
            state = None
        if not isinstance(state, dict) or state.get("key") != self.key or state.get("version") != JOURNAL_VERSION:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir.mkdir(parents=True, exist_ok=True)
            return None
        for name, size in state["sizes"].items():
            _truncate(self.dir / name, int(size))
        self.state = state
        return state

    # ---- checkpoint ---------------------------------------------------------------------------
    def save(self, col: Any, writer: Any) -> None:
        """Make everything collected so far durable, then record it in the journal (last, atomically)."""
        writer.flush()
        with open(self.dir / FILES, "a", encoding="utf-8") as fh:
            for entry in col.files[self._files_saved:]:
                fh.write(json.dumps(entry, separators=(",", ":"), default=str) + "\n")
        self._files_saved = len(col.files)
        with open(self.dir / REJECTS, "a", encoding="utf-8") as fh:
            for row in col.rejects[self._rejects_saved:]:
                fh.write(json.dumps(list(row)) + "\n")
        self._rejects_saved = len(col.rejects)
        if col.index is not None:
            hashes = col.index._hashes
            with open(self.dir / HASHES, "ab") as fh:
                fh.write(np.asarray(hashes[self._hashes_saved:], dtype=np.uint64).tobytes())
            self._hashes_saved = len(hashes)
        for name in (FILES, REJECTS, HASHES, writer.raw_name):
            if (self.dir / name).exists():
                _fsync_file(self.dir / name)
        state = {"version": JOURNAL_VERSION, "key": self.key, "inputs": col.inputs, "kept_inputs": col.kept_inputs,
                 "count": writer.count, "dropped": dict(col.dropped), "notes": dict(col.notes),
                 "labels": writer.labels_so_far(),
                 "sizes": {name: (self.dir / name).stat().st_size if (self.dir / name).exists() else 0
                           for name in (FILES, REJECTS, HASHES, writer.raw_name)}}
        atomic_write_text(self.dir / JOURNAL, json.dumps(state))
        self.state = state

    # ---- resume -------------------------------------------------------------------------------
    def restore(self, col: Any, writer: Any) -> int:
        """Load the saved progress into a fresh collector and writer; returns the inputs to skip."""
        s = self.state
        if s is None:
            return 0
        with open(self.dir / FILES, encoding="utf-8") as fh:
            col.files = [json.loads(line) for line in fh]
        with open(self.dir / REJECTS, encoding="utf-8") as fh:
            col.rejects = [tuple(json.loads(line)) for line in fh]
        if col.index is not None and (self.dir / HASHES).exists():
            for i, h in enumerate(np.fromfile(self.dir / HASHES, dtype=np.uint64).tolist()):
                col.index.add(int(h), i)
        col.inputs, col.kept_inputs = int(s["inputs"]), int(s["kept_inputs"])
        col.dropped, col.notes = Counter(s["dropped"]), Counter(s["notes"])
        writer.resume(int(s["count"]), s.get("labels") or {})
        self._files_saved, self._rejects_saved = len(col.files), len(col.rejects)
        self._hashes_saved = len(col.index) if col.index is not None else 0
        if len(col.files) != writer.count:
            raise RuntimeError(f"prepare journal is inconsistent ({len(col.files)} entries, {writer.count} images)")
        return col.inputs

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
