"""What every source reader yields (:class:`RawItem`, :class:`Reader`) and the naming rules they share:
which names are images, which are hidden, how a name that is not valid UTF-8 is shown and rejected."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from animegen.data.decode import Rejected
from animegen.errors import DataError

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".webp", ".bmp", ".dib",
                        ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".avif"})
ARCHIVE_EXTS = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


@dataclass
class RawItem:
    name: str
    """Provenance: path relative to the source root, archive member, HF row, or ``file#index``."""
    payload: bytes | str | np.ndarray | Rejected
    labels: dict[str, int] | None = None


@dataclass
class Reader:
    """A source's items plus what identifies it (for cache keys and the manifest)."""

    kind: str
    spec: str
    location: str
    total: int | None
    items: Any  # a zero-argument callable returning an iterator of RawItem
    signature: str = ""
    """Hash of the listing (names, sizes, mtimes) or of the archive's size and mtime."""
    ignored: int = 0
    """Files skipped because their extension is not an image one (README.txt, .DS_Store, ...)."""
    label_names: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[RawItem]:
        return iter(self.items())

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec, "kind": self.kind, "location": self.location, "ignored_files": self.ignored}


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTS


def hidden(part: str) -> bool:
    return part.startswith(".") or part == "__MACOSX"


def printable(name: str) -> str:
    """A file name as valid UTF-8 text: undecodable bytes (kept by Python as surrogates) shown as ``\\xNN``."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")


def bad_name(name: str) -> RawItem | None:
    shown = printable(name)
    if shown == name:
        return None
    return RawItem(shown, Rejected("bad-name", "the file name is not valid UTF-8; rename it"))


def file_signature(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()


def empty_error(spec: str, ignored: int) -> DataError:
    extra = f" ({ignored} other file(s) ignored)" if ignored else ""
    return DataError(f"no image files in {spec}{extra}; looked for {', '.join(sorted(IMAGE_EXTS))}")
