"""Zip and tar sources, read member by member without extracting anything.

Member names are normalised (``./a.png`` is ``a.png``, so ``tar -C dir .`` archives read like any other).
Members dropped for safety (a ``..`` or absolute path, a link, a device, a FIFO) become ``unsafe``
rejects; every read is capped at :data:`MAX_MEMBER_BYTES` whatever the headers claim (zip bombs).
"""
from __future__ import annotations

import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from animegen.data.decode import Rejected
from animegen.data.rawitems import (
    RawItem,
    Reader,
    bad_name,
    empty_error,
    file_signature,
    hidden,
    is_image_name,
    printable,
)
from animegen.errors import DataError

MAX_MEMBER_BYTES = 512 * 2**20
"""Archive members bigger than this (uncompressed) are refused as ``too-large`` without reading."""


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


# ----------------------------------------------------------------------------- zip


def _zip_unsafe(info: zipfile.ZipInfo) -> str | None:
    mode = info.external_attr >> 16 if info.create_system == 3 else 0
    kind = stat.S_IFMT(mode)
    if kind and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        return "link" if stat.S_ISLNK(mode) else "not a regular file"
    return None


def zip_reader(spec: str, path: Path) -> Reader:
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
        elif not any(hidden(p) for p in name.split("/")):
            members.append((name, i))
    members.sort(key=lambda m: m[0])
    images = [m for m in members if is_image_name(m[0])]
    ignored = len(members) - len(images)
    if not images and not problems:
        raise empty_error(spec, ignored)

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

    return Reader("zip", spec, str(path.resolve()), len(images) + len(problems), items, file_signature(path),
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
    if any(hidden(p) for p in name.split("/")):
        return None
    return name, bad_name(name) if is_image_name(name) else None


def _tar_item(tf: tarfile.TarFile, m: tarfile.TarInfo, name: str) -> RawItem:
    if m.size > MAX_MEMBER_BYTES:
        return RawItem(name, Rejected("too-large", f"{m.size:,} bytes"))
    fh = tf.extractfile(m)
    data = fh.read(MAX_MEMBER_BYTES + 1) if fh is not None else b""
    if len(data) < m.size:
        return RawItem(name, Rejected("truncated", f"archive ends inside this member ({len(data)} of {m.size} bytes)"))
    return RawItem(name, data)


def tar_reader(spec: str, path: Path) -> Reader:
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
        raise empty_error(spec, 0)
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
            listed: list[tarfile.TarInfo] = tf.members  # type: ignore[attr-defined]  # what was read so far
            for m in listed:
                c = _tar_classify(m)
                if c is None:
                    continue
                if c[1] is not None:
                    problems.append(c[1])
                elif is_image_name(c[0]):
                    members.append((c[0], m))
                else:
                    ignored += 1
        members.sort(key=lambda x: x[0])
        if not members and not problems:
            raise empty_error(spec, ignored)

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
                        yield RawItem(f"{path.name}#after-{len(members)}",
                                      Rejected("truncated", f"archive cut short: {list_error}"))
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
                    if not is_image_name(c[0]):
                        reader.ignored += 1
                        n -= 1
                        continue
                    item = _tar_item(tf, m, c[0])
                    yield item
                    if isinstance(item.payload, Rejected) and item.payload.reason == "truncated":
                        return
        except (tarfile.TarError, OSError, EOFError) as exc:  # a damaged or cut-short archive: keep what we read
            yield RawItem(f"{path.name}#after-{n}",
                          Rejected("truncated", f"archive unreadable after {n} members: {exc}"))
        if n == 0:
            raise empty_error(spec, reader.ignored)

    reader = Reader("tar", spec, str(path.resolve()), None if compressed else len(members) + len(problems), items,
                    file_signature(path), ignored)
    return reader  # for compressed tars, items() counts reader.ignored as it goes
