"""Progress bars with ETA (tqdm), quiet when stderr is not a terminal or when ``--quiet`` was given."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

_QUIET = os.environ.get("ANIMEGEN_QUIET", "") not in ("", "0")


def set_quiet(quiet: bool) -> None:
    global _QUIET
    _QUIET = quiet


def is_quiet() -> bool:
    return _QUIET


def bars_enabled() -> bool:
    return not _QUIET and sys.stderr.isatty()


def progress(iterable: Iterable[T] | None = None, total: int | None = None, desc: str = "", unit: str = "it",
             **kw) -> tqdm:
    """A tqdm bar (disabled when quiet or not a TTY)."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not bars_enabled(), dynamic_ncols=True,
                leave=False, **kw)


def info(msg: str) -> None:
    """A one-line status message on stderr (suppressed by ``--quiet``)."""
    if not _QUIET:
        print(msg, file=sys.stderr, flush=True)
