"""Which checkpoints a studio session may open: the bundled model and the runs found under one folder.

The catalogue is built on the server from the command line's argument (a checkpoint file, a run folder or a
folder of runs) and maps short labels to paths. The browser only ever sends a label back; :meth:`Catalog.path`
accepts nothing else, so no request can name a file of its own.

    cat = scan("runs/")                  # labels: "bundled: synthetic-faces VAE", "vae-faces-1", "sweep/dcgan-2", ...
    model = load_model(cat.path(cat.default))
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from animegen.errors import AnimegenError, CheckpointError
from animegen.runs import PREFERRED, preferred_checkpoint

BUNDLED_FILE = "studio-vae.safetensors"
"""The model shipped as package data (``animegen/studio/assets``), trained on synthetic faces only."""
BUNDLED_LABEL = "bundled: synthetic-faces VAE"
MAX_DEPTH = 3
"""How deep below the given folder runs are looked for."""
MAX_RUNS = 200
"""At most this many runs are listed (the first ones in sorted order)."""
SUFFIX = ".safetensors"


class UnknownCheckpoint(AnimegenError):
    """A checkpoint label that is not in the session's catalogue."""


def bundled_checkpoint() -> Path:
    """Path of the bundled model (package data)."""
    p = Path(str(resources.files("animegen.studio") / "assets" / BUNDLED_FILE))
    if not p.is_file():
        raise CheckpointError(f"the bundled studio model is missing ({p}); reinstall animegen or pass a checkpoint")
    return p


@dataclass
class Catalog:
    """Labels → checkpoint paths, in display order; ``default`` is the label opened first."""

    entries: dict[str, Path] = field(default_factory=dict)
    default: str = ""
    root: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return list(self.entries)

    def path(self, label: object) -> Path:
        """The checkpoint of ``label``; UnknownCheckpoint for anything not listed (including paths)."""
        if not isinstance(label, str) or label not in self.entries:
            shown = repr(label)[:80]
            raise UnknownCheckpoint(f"unknown checkpoint {shown}; choose one of the listed runs")
        return self.entries[label]


def _is_run(folder: Path) -> bool:
    return any((folder / name).is_file() for name in PREFERRED)


def _walk_runs(root: Path) -> list[Path]:
    """Run folders below ``root`` (depth ≤ MAX_DEPTH, symlinked folders not followed, hidden ones skipped)."""
    found: list[Path] = []
    for here, dirs, _files in os.walk(root, followlinks=False):
        depth = len(Path(here).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(here, d)))
        if _is_run(Path(here)):
            found.append(Path(here))
            dirs[:] = []  # a run's own subfolders (samples/, tb/) hold no runs
        elif depth >= MAX_DEPTH:
            dirs[:] = []
        if len(found) >= MAX_RUNS:
            break
    return sorted(found)


def scan(target: str | os.PathLike | None, include_bundled: bool = True) -> Catalog:
    """Build the catalogue for ``animegen studio [TARGET]`` (module doc).

    ``None``: the bundled model only. A checkpoint file or a run folder: that one (and the bundled model). Any
    other folder: every run below it. A folder without runs is not an error; the bundled model is opened.
    """
    cat = Catalog()
    if include_bundled:
        cat.entries[BUNDLED_LABEL] = bundled_checkpoint()
        cat.default = BUNDLED_LABEL
    if target is None:
        return cat
    p = Path(target)
    if not p.exists():
        raise AnimegenError(f"{p}: no such checkpoint or folder")
    if p.is_file():
        if p.suffix != SUFFIX:
            raise CheckpointError(f"{p}: not a checkpoint (expected a {SUFFIX} file or a run folder)")
        cat.root = p.parent.resolve()
        label = p.name
    elif _is_run(p):
        cat.root = p.resolve()
        label = p.resolve().name
        p = preferred_checkpoint(p)
    else:
        cat.root = p.resolve()
        runs = _walk_runs(cat.root)
        if len(runs) >= MAX_RUNS:
            cat.notes.append(f"listing the first {MAX_RUNS} runs under {p}")
        bundled = cat.entries
        cat.entries = {run.relative_to(cat.root).as_posix(): preferred_checkpoint(run).resolve() for run in runs}
        cat.entries.update(bundled)
        if not runs:
            cat.notes.append(f"no runs (folders with {', '.join(PREFERRED)}) under {p}; opened the bundled model")
        else:
            cat.default = runs[0].relative_to(cat.root).as_posix()
        return cat
    cat.entries = {label: p.resolve(), **cat.entries}
    cat.default = label
    return cat
