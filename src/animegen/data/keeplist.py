"""Keep-lists: one source name per line, the images ``animegen prepare SRC --keep-list FILE`` keeps.

``animegen outliers`` writes them; names are the ones prepare records in ``manifest.json``
(``files[i].source``: the path inside the source folder or archive; ``NAME#faceK`` with ``--crop detect``).
Blank lines and lines starting with ``#`` are skipped.
"""
from __future__ import annotations

from pathlib import Path

from animegen.errors import AnimegenError

MAX_KEEP_LIST_BYTES = 256 * 1024 * 1024
"""Largest keep-list read (a million long names fit many times over)."""


def write_keep_list(path: str | Path, names: list[str], header: str = "") -> None:
    """One name per line (``#`` lines are comments), as ``prepare --keep-list`` reads it."""
    from animegen import __version__
    from animegen.fsutil import MARKER, atomic_write_text

    bad = [n for n in names if "\n" in n or "\r" in n]
    if bad:
        raise AnimegenError(f"a source name contains a line break and cannot go into a keep-list: {bad[0]!r}")
    # the first line is the marker that lets a later run replace this file (fsutil.check_output)
    lines = [f"# written by {MARKER} {__version__}"] + [f"# {line}" for line in header.splitlines()] + list(names)
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_keep_list(path: str | Path) -> set[str]:
    """The names of a keep-list file (blank lines and ``#`` comments skipped; surrounding spaces kept)."""
    from animegen.fsutil import ReadRefused, read_limited

    p = Path(path)
    try:
        text = read_limited(p, MAX_KEEP_LIST_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise AnimegenError(f"--keep-list {p}: no such file") from None
    except ReadRefused as exc:
        raise AnimegenError(f"--keep-list {p}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AnimegenError(f"--keep-list {p}: cannot read it as UTF-8 text ({exc})") from None
    names = {line.rstrip("\r") for line in text.split("\n")}
    names = {n for n in names if n.strip() and not n.startswith("#")}
    if not names:
        raise AnimegenError(f"--keep-list {p} names no images (one source name per line)")
    return names
