"""Iterate the raw images of a source: a folder (recursive), a .zip, a .tar(.gz/.bz2/.xz), ``hf:NAME``
or ``mnist:DIR``.

A reader yields :class:`RawItem` s in a fixed order (folders and zips: sorted by path; tars: archive
order; HF datasets and MNIST: row order). The payload is what a worker needs to decode the image:
a file path (read by the worker), the bytes, a uint8 array (MNIST) or a :class:`Rejected` for
something already known to be unusable (an unreadable folder, an archive cut short).

Nothing is dropped silently except hidden entries (``.name``, ``__MACOSX``) and files without an image
extension (counted as ``ignored``). Archive members dropped for safety (a ``..`` or absolute path, a
link, a device, a FIFO) become ``unsafe`` rejects; names that are not valid UTF-8 become one
``bad-name`` reject each (a folder with such a name: one line for the folder). Member names are
normalised (``./a.png`` is ``a.png``, so ``tar -C dir .`` archives read like any other).

The zip and tar readers live in :mod:`animegen.data.archives`, the shared item types and naming rules in
:mod:`animegen.data.rawitems`; this module dispatches a spec and reads folders, ``hf:`` and ``mnist:``.
"""
from __future__ import annotations

import hashlib
import os
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from animegen.data.archives import MAX_MEMBER_BYTES, member_path, tar_reader, zip_reader
from animegen.data.decode import Rejected
from animegen.data.rawitems import (
    ARCHIVE_EXTS,
    IMAGE_EXTS,
    RawItem,
    Reader,
    bad_name,
    empty_error,
    file_signature,
    hidden,
    is_image_name,
    printable,
)
from animegen.errors import AnimegenError, DataError, require
from animegen.fsutil import require_regular

__all__ = ["ARCHIVE_EXTS", "IMAGE_EXTS", "MAX_MEMBER_BYTES", "RawItem", "Reader", "member_path", "open_reader",
           "printable"]

def open_reader(spec: str) -> Reader:
    """Resolve a source spec to a :class:`Reader`; a missing or empty source raises DataError."""
    spec = str(spec).strip()
    if spec.startswith("hf:"):
        return _hf_reader(spec)
    if spec.startswith("mnist:"):
        return _mnist_reader(spec)
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"source not found: {spec} (expected a folder, .zip, .tar(.gz), hf:NAME or mnist:DIR)")
    if path.is_dir():
        return _folder_reader(spec, path)
    try:  # probing a FIFO or a device as an archive would block or never end
        require_regular(path)
    except OSError as exc:
        raise DataError(f"cannot read {spec}: {exc}") from None
    low = path.name.lower()
    if low.endswith(".zip") or (zipfile.is_zipfile(path) and not low.endswith(ARCHIVE_EXTS[1:])):
        return zip_reader(spec, path)
    if low.endswith(ARCHIVE_EXTS[1:]) or _is_tar(path):
        return tar_reader(spec, path)
    raise DataError(f"{spec} is a single file; pass a folder of images, a .zip or a .tar(.gz) archive")


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


# ----------------------------------------------------------------------------- folder


def _folder_reader(spec: str, root: Path) -> Reader:
    """Image files under ``root`` (recursive, hidden entries skipped), sorted by relative path."""
    files: list[tuple[str, str]] = []  # (relative posix path, absolute path)
    sizes: dict[str, str] = {}
    problems: list[RawItem] = []
    ignored = 0
    stack = [(str(root), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            problems.append(RawItem(printable(prefix.rstrip("/")) or ".",
                                    Rejected("unreadable", f"folder: {exc.strerror or exc}")))
            continue
        for e in entries:
            if hidden(e.name):
                continue
            rel = prefix + e.name
            try:
                is_dir = e.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            bad = bad_name(rel)
            if bad is not None and (is_dir or is_image_name(e.name)):
                problems.append(bad)  # one line, also for a folder (its files are not searched)
                continue
            if is_dir:
                stack.append((e.path, rel + "/"))
                continue
            if not is_image_name(e.name):
                ignored += 1
                continue
            # any other entry under an image name is listed: FIFOs, devices, links to folders and broken
            # links are reported when read (decode.read_bytes opens regular files only, never blocking)
            files.append((rel, e.path))
            try:
                st = e.stat()
                sizes[rel] = f"{st.st_size}\0{st.st_mtime_ns}"
            except OSError:  # a broken link: listed, and reported as unreadable when read
                sizes[rel] = "?"
    files.sort()
    problems.sort(key=lambda r: r.name)
    if not files and not problems:
        raise empty_error(spec, ignored)
    sig = hashlib.sha256(str(root.resolve()).encode())
    for rel, _ in files:
        sig.update(f"{rel}\0{sizes[rel]}\n".encode())

    def items() -> Iterator[RawItem]:
        yield from problems
        for rel, full in files:
            yield RawItem(rel, full)

    return Reader("folder", spec, str(root.resolve()), len(files) + len(problems), items, sig.hexdigest(), ignored)


# ----------------------------------------------------------------------------- Hugging Face


def _parse_hf(spec: str) -> tuple[str, str]:
    rest = spec[3:]
    name, split = rest, "train"
    if not Path(rest).expanduser().exists() and rest.count(":") >= 1:
        head, _, tail = rest.rpartition(":")
        if tail and all(c.isalnum() or c in "_-.[]%+" for c in tail):
            name, split = head, tail
    if not name:
        raise DataError("hf: needs a dataset name or a local imagefolder path, e.g. hf:user/anime-faces")
    return name, split


def _hf_reader(spec: str) -> Reader:
    name, split = _parse_hf(spec)
    datasets = require("datasets", "pip install 'animegen[hf]'", "hf: sources")
    local = Path(name).expanduser()
    try:
        if local.is_dir():
            ds = datasets.load_dataset("imagefolder", data_dir=str(local), split=split)
        else:
            ds = datasets.load_dataset(name, split=split)
    except AnimegenError:
        raise
    except Exception as exc:  # datasets raises many types (offline, not found, bad config): one clear line
        offline = os.environ.get("HF_DATASETS_OFFLINE") not in (None, "", "0")
        hint = " (offline: HF_DATASETS_OFFLINE is set)" if offline else ""
        raise DataError(f"cannot load Hugging Face dataset {name!r} split {split!r}{hint}: "
                        f"{type(exc).__name__}: {exc}") from None
    col = next((k for k, f in ds.features.items() if isinstance(f, datasets.Image)), None)
    if col is None:
        raise DataError(f"Hugging Face dataset {name!r} has no image column (features: {', '.join(ds.features)})")
    ds = ds.cast_column(col, datasets.Image(decode=False))
    if len(ds) == 0:
        raise DataError(f"Hugging Face dataset {name!r} split {split!r} is empty")
    if local.is_dir():
        sig = _folder_reader(str(local), local).signature
        location = str(local.resolve())
    else:
        fp = getattr(ds, "_fingerprint", "")
        sig = hashlib.sha256(f"{name}\0{split}\0{fp}".encode()).hexdigest()
        location = name

    def items() -> Iterator[RawItem]:
        for i, row in enumerate(ds):
            v = row[col] or {}
            p = v.get("path")
            label = (f"{Path(p).relative_to(local).as_posix()}" if p and local.is_dir() and _under(p, local)
                     else (p or f"{name}[{i}]"))
            if v.get("bytes"):
                yield RawItem(label, v["bytes"])
            elif p:
                yield RawItem(label, str(p))
            else:
                yield RawItem(f"{name}[{i}]", Rejected("empty-file", "row has no image"))

    return Reader("hf", spec, location, len(ds), items, sig)


def _under(p: str, root: Path) -> bool:
    try:
        Path(p).relative_to(root)
        return True
    except ValueError:
        return False


# ----------------------------------------------------------------------------- MNIST


def _mnist_reader(spec: str) -> Reader:
    from animegen.data.mnist import parse_mnist_spec, read_mnist

    root, split = parse_mnist_spec(spec[len("mnist:"):])
    images, labels, files = read_mnist(root, split)
    sig = hashlib.sha256(b"".join(file_signature(Path(f)).encode() for f in files)).hexdigest()
    base = Path(files[0]).name

    def items() -> Iterator[RawItem]:
        for i in range(len(images)):
            yield RawItem(f"{base}#{i}", images[i], {"digit": int(labels[i])})

    return Reader("mnist", spec, str(Path(root).resolve()), len(images), items, sig, 0, ["digit"])
