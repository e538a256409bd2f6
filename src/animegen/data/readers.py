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
"""
from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from animegen.data.decode import Rejected
from animegen.errors import AnimegenError, DataError, require
from animegen.fsutil import require_regular

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".webp", ".bmp", ".dib",
                        ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".avif"})
ARCHIVE_EXTS = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
MAX_MEMBER_BYTES = 512 * 2**20
"""Archive members bigger than this (uncompressed) are refused as ``too-large`` without reading."""


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


def _is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTS


def _hidden(part: str) -> bool:
    return part.startswith(".") or part == "__MACOSX"


def printable(name: str) -> str:
    """A file name as valid UTF-8 text: undecodable bytes (kept by Python as surrogates) shown as ``\\xNN``."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")


def _bad_name(name: str) -> RawItem | None:
    shown = printable(name)
    if shown == name:
        return None
    return RawItem(shown, Rejected("bad-name", "the file name is not valid UTF-8; rename it"))


def member_path(name: str) -> tuple[str, str | None]:
    """An archive member name normalised (``./a/./b.png`` → ``a/b.png``, ``\\`` → ``/``) and why it is
    unsafe (an absolute path or one that climbs out with ``..``), or None."""
    raw = name.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":" and raw[0].isalpha()):
        return raw, "absolute path"
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        return raw, "path leaves the archive (..)"
    return "/".join(parts), None


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
        return _zip_reader(spec, path)
    if low.endswith(ARCHIVE_EXTS[1:]) or _is_tar(path):
        return _tar_reader(spec, path)
    raise DataError(f"{spec} is a single file; pass a folder of images, a .zip or a .tar(.gz) archive")


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _file_signature(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()


def _empty(spec: str, ignored: int) -> DataError:
    extra = f" ({ignored} other file(s) ignored)" if ignored else ""
    return DataError(f"no image files in {spec}{extra}; looked for {', '.join(sorted(IMAGE_EXTS))}")


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
            problems.append(RawItem(prefix.rstrip("/") or ".", Rejected("unreadable", f"folder: {exc.strerror or exc}")))
            continue
        for e in entries:
            if _hidden(e.name):
                continue
            rel = prefix + e.name
            try:
                is_dir = e.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            bad = _bad_name(rel)
            if bad is not None and (is_dir or _is_image_name(e.name)):
                problems.append(bad)  # one line, also for a folder (its files are not searched)
                continue
            if is_dir:
                stack.append((e.path, rel + "/"))
                continue
            if not _is_image_name(e.name):
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
        raise _empty(spec, ignored)
    sig = hashlib.sha256(str(root.resolve()).encode())
    for rel, _ in files:
        sig.update(f"{rel}\0{sizes[rel]}\n".encode())

    def items() -> Iterator[RawItem]:
        yield from problems
        for rel, full in files:
            yield RawItem(rel, full)

    return Reader("folder", spec, str(root.resolve()), len(files) + len(problems), items, sig.hexdigest(), ignored)


# ----------------------------------------------------------------------------- zip


def _zip_unsafe(info: zipfile.ZipInfo) -> str | None:
    mode = info.external_attr >> 16 if info.create_system == 3 else 0
    kind = stat.S_IFMT(mode)
    if kind and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        return "link" if stat.S_ISLNK(mode) else "not a regular file"
    return None


def _zip_reader(spec: str, path: Path) -> Reader:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"cannot read {spec} as a zip archive: {exc}") from None
    problems: list[RawItem] = []
    members: list[tuple[str, zipfile.ZipInfo]] = []
    for i in infos:
        if i.is_dir():
            continue
        name, why = member_path(i.filename)
        why = why or _zip_unsafe(i)
        if why:
            problems.append(RawItem(i.filename, Rejected("unsafe", f"zip member dropped for safety: {why}")))
        elif not any(_hidden(p) for p in name.split("/")):
            members.append((name, i))
    members.sort(key=lambda m: m[0])
    images = [m for m in members if _is_image_name(m[0])]
    ignored = len(members) - len(images)
    if not images and not problems:
        raise _empty(spec, ignored)

    def items() -> Iterator[RawItem]:
        yield from problems
        with zipfile.ZipFile(path) as zf:
            for name, info in images:
                limit = MAX_MEMBER_BYTES
                if info.file_size > limit:
                    yield RawItem(name, Rejected("too-large", f"{info.file_size:,} bytes uncompressed"))
                    continue
                try:
                    with zf.open(info) as fh:  # read at most limit + 1 bytes whatever the header claims
                        data = fh.read(limit + 1)
                    payload: bytes | Rejected = data if len(data) <= limit else Rejected(
                        "too-large", f"more than {limit:,} bytes uncompressed")
                except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
                    payload = Rejected("corrupt", f"zip member: {exc}")
                except (RuntimeError, NotImplementedError) as exc:  # encrypted member, unknown compression
                    payload = Rejected("unreadable", f"zip member: {exc}")
                yield RawItem(name, payload)

    return Reader("zip", spec, str(path.resolve()), len(images) + len(problems), items, _file_signature(path),
                  ignored)


# ----------------------------------------------------------------------------- tar


def _tar_classify(m: tarfile.TarInfo) -> tuple[str, RawItem | None] | None:
    """``(normalised name, reject or None)`` for a member to read or report; None to skip it silently
    (folders, hidden entries)."""
    if m.isdir():
        return None
    name, why = member_path(m.name)
    if why is None and not m.isfile():
        why = ("link to " + printable(m.linkname)) if (m.issym() or m.islnk()) else (
            "device" if (m.ischr() or m.isblk()) else "FIFO" if m.isfifo() else "not a regular file")
    if why is not None:
        return name, RawItem(printable(m.name), Rejected("unsafe", f"tar member dropped for safety: {why}"))
    if any(_hidden(p) for p in name.split("/")):
        return None
    return name, _bad_name(name) if _is_image_name(name) else None


def _tar_item(tf: tarfile.TarFile, m: tarfile.TarInfo, name: str) -> RawItem:
    if m.size > MAX_MEMBER_BYTES:
        return RawItem(name, Rejected("too-large", f"{m.size:,} bytes"))
    fh = tf.extractfile(m)
    data = fh.read(MAX_MEMBER_BYTES + 1) if fh is not None else b""
    if len(data) < m.size:
        return RawItem(name, Rejected("truncated", f"archive ends inside this member ({len(data)} of {m.size} bytes)"))
    return RawItem(name, data)


def _tar_reader(spec: str, path: Path) -> Reader:
    """Plain tars are read in sorted member order (like folders and zips: the same files give the same
    dataset); compressed ones are streamed in archive order (seeking back in a gzip stream is slow)."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
        compressed = magic[:2] == b"\x1f\x8b" or magic[:3] == b"BZh" or magic == b"\xfd7zXZ\x00"
        with tarfile.open(path, "r:*") as tf:
            first = tf.next()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot read {spec} as a tar archive: {exc}") from None
    if first is None:
        raise _empty(spec, 0)
    members: list[tuple[str, tarfile.TarInfo]] = []
    problems: list[RawItem] = []
    list_error = ""
    ignored = 0
    if not compressed:  # listing a plain tar only reads the headers
        with tarfile.open(path, "r:") as tf:
            try:
                tf.getmembers()
            except (tarfile.TarError, OSError, EOFError) as exc:  # cut short: keep the members listed so far
                list_error = str(exc)
            for m in tf.members:
                c = _tar_classify(m)
                if c is None:
                    continue
                if c[1] is not None:
                    problems.append(c[1])
                elif _is_image_name(c[0]):
                    members.append((c[0], m))
                else:
                    ignored += 1
        members.sort(key=lambda x: x[0])
        if not members and not problems:
            raise _empty(spec, ignored)

    def items() -> Iterator[RawItem]:
        n = 0
        try:
            with tarfile.open(path, "r:*") as tf:
                if not compressed:
                    yield from problems
                    for name, m in members:
                        n += 1
                        yield _tar_item(tf, m, name)
                    if list_error:
                        yield RawItem(f"{path.name}#after-{len(members)}", Rejected("truncated", f"archive cut short: {list_error}"))
                    return
                reader.ignored = 0
                for m in tf:
                    c = _tar_classify(m)
                    if c is None:
                        continue
                    n += 1
                    if c[1] is not None:
                        yield c[1]
                        continue
                    if not _is_image_name(c[0]):
                        reader.ignored += 1
                        n -= 1
                        continue
                    item = _tar_item(tf, m, c[0])
                    yield item
                    if isinstance(item.payload, Rejected) and item.payload.reason == "truncated":
                        return
        except (tarfile.TarError, OSError, EOFError) as exc:  # a damaged or cut-short archive: keep what we read
            yield RawItem(f"{path.name}#after-{n}", Rejected("truncated", f"archive unreadable after {n} members: {exc}"))
        if n == 0:
            raise _empty(spec, reader.ignored)

    reader = Reader("tar", spec, str(path.resolve()), None if compressed else len(members) + len(problems), items,
                    _file_signature(path), ignored)
    return reader  # for compressed tars, items() counts reader.ignored as it goes


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
        hint = " (offline: HF_DATASETS_OFFLINE is set)" if os.environ.get("HF_DATASETS_OFFLINE") not in (None, "", "0") else ""
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
            label = f"{Path(p).relative_to(local).as_posix()}" if p and local.is_dir() and _under(p, local) else (p or f"{name}[{i}]")
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
    sig = hashlib.sha256(b"".join(_file_signature(Path(f)).encode() for f in files)).hexdigest()
    base = Path(files[0]).name

    def items() -> Iterator[RawItem]:
        for i in range(len(images)):
            yield RawItem(f"{base}#{i}", images[i], {"digit": int(labels[i])})

    return Reader("mnist", spec, str(Path(root).resolve()), len(images), items, sig, 0, ["digit"])
