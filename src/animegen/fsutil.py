"""Safe file I/O: atomic writes, bounded reads of regular files only, and output-path guards.

- Writes: a crash at any moment never leaves a half-written file under the final name
  (:func:`atomic_path`, :func:`atomic_dir`).
- Reads of anything a user hands us: :func:`read_limited` opens without blocking, accepts regular files
  only (after following links; never a FIFO, a device such as ``/dev/zero``, a socket or a folder) and
  reads at most ``limit`` bytes (:class:`ReadRefused` otherwise).
- Outputs: :func:`check_output` refuses to write over an input or over a file animegen did not write.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path


def _umask() -> int:
    """The process umask, read from /proc where possible (setting it to read it races with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)  # pragma: no cover - not Linux
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    On any exception (or KeyboardInterrupt) the temporary file is removed and ``path`` is untouched.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the final file gets the usual permissions
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj, indent: int = 2, mark: bool = False) -> None:
    """Atomically write ``obj`` as JSON. ``mark``: a dict gets a leading ``"software": "animegen <version>"`` key,
    the marker that lets a later run replace the file (:func:`check_output`); use it for every result file a
    command writes where the user chose the path (not for files read back strictly, such as ``config.json``)."""
    if mark and isinstance(obj, dict) and "software" not in obj:
        from animegen import __version__

        obj = {"software": f"{MARKER} {__version__}", **obj}
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False, default=str) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, owned: Callable[[Path], Iterable[str]] | None = None) -> Iterator[Path]:
    """Build a directory under a temporary name and move it to ``path`` only when complete.

    ``path`` absent or empty, or holding only entries that ``owned(path)`` names (what an earlier run of the
    same writer wrote there): the new folder replaces it in one rename. Otherwise only the entries that
    ``owned(path)`` names are removed or replaced, one rename each (the manifest last); anything else in it
    (a user's own files) is kept. Without ``owned`` nothing in an existing folder counts as ours. An entry
    of the new folder whose name is taken by a file we do not own raises
    :class:`~animegen.errors.AnimegenError` before anything is moved (call :func:`check_dir_output`
    first to fail before the work).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        yield tmp
        _fsync_dir(tmp)
        ours = set(owned(final)) if owned is not None and final.is_dir() else set()
        present = {e.name for e in os.scandir(final)} if final.is_dir() else set()
        if present and not present <= ours:  # a user's files are there too: move ours in beside them
            _merge_into(tmp, final, ours)
            shutil.rmtree(tmp, ignore_errors=True)
        elif present:  # everything there is ours: swap the whole folder at once
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if final.is_dir():
                final.rmdir()
            os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _merge_into(new: Path, final: Path, ours: set[str]) -> None:
    """Move the entries of ``new`` into ``final``: replace or delete only names in ``ours``, keep the rest."""
    from animegen.errors import AnimegenError

    ours = {n for n in ours if n and "/" not in n and n not in (".", "..")}
    incoming = sorted(e.name for e in os.scandir(new))
    clash = [n for n in incoming if n not in ours and os.path.lexists(final / n)]
    if clash:
        raise AnimegenError(f"{final} already holds {clash[0]!r}, which animegen did not write there; "
                            "move it away or choose another output folder")
    # the old manifest goes first and the new one comes last: a crash in between never leaves a manifest
    # that describes files it did not write
    if "manifest.json" in ours:
        _remove(final / "manifest.json")
    for name in sorted(ours - set(incoming)):
        _remove(final / name)
    for name in [n for n in incoming if n != "manifest.json"] + [n for n in incoming if n == "manifest.json"]:
        if (final / name).is_dir() and not (final / name).is_symlink():
            _remove(final / name)
        os.replace(new / name, final / name)
    _fsync_dir(final)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif os.path.lexists(p):
        p.unlink()


# ----------------------------------------------------------------------------- bounded reads

MAX_JSON_BYTES = 256 * 2**20
"""Cap for JSON and text metadata we read (manifests, config.json, metrics files)."""


class ReadRefused(OSError):
    """A file we will not read: ``reason`` is ``not-a-file`` (FIFO, device, socket, folder) or ``too-large``."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind_of(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def require_regular(path: str | os.PathLike) -> os.stat_result:
    """``os.stat`` of ``path`` (links followed); :class:`ReadRefused` unless it is a regular file."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ReadRefused("not-a-file", f"{path} is not a regular file ({_kind_of(st.st_mode)})")
    return st


def read_limited(path: str | os.PathLike, limit: int) -> bytes:
    """All bytes of the regular file ``path`` (links followed), at most ``limit`` of them.

    Never blocks: the file is opened ``O_NONBLOCK`` and checked with ``fstat`` before any read, so a
    FIFO, a device (``/dev/zero``), a socket or a folder raises :class:`ReadRefused` (``not-a-file``) at
    once; a file longer than ``limit`` raises ``too-large`` after reading at most ``limit + 1`` bytes
    (it may grow while we read). Other failures are the usual :class:`OSError`.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ReadRefused("not-a-file", f"{path} is not a regular file ({_kind_of(st.st_mode)})")
        if st.st_size > limit:
            raise ReadRefused("too-large", f"{path} is too large ({st.st_size:,} bytes > {limit:,})")
        chunks, got = [], 0
        while got <= limit:
            block = os.read(fd, min(1 << 20, limit + 1 - got))
            if not block:
                break
            chunks.append(block)
            got += len(block)
        if got > limit:
            raise ReadRefused("too-large", f"{path} is too large (more than {limit:,} bytes)")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text_limited(path: str | os.PathLike, limit: int = MAX_JSON_BYTES) -> str:
    """:func:`read_limited` decoded as UTF-8 (``UnicodeDecodeError`` for anything else)."""
    return read_limited(path, limit).decode("utf-8")


def read_json_limited(path: str | os.PathLike, limit: int = MAX_JSON_BYTES):
    """:func:`read_text_limited` parsed as JSON (``ValueError`` for bad JSON)."""
    return json.loads(read_text_limited(path, limit))


# ----------------------------------------------------------------------------- output guards

MARKER = "animegen"
"""What our writers embed so that a later run may replace the file (see :func:`check_output`)."""

_HEAD_BYTES = 1 << 20
_SUFFIX_FORMAT = {".png": "png", ".gif": "gif", ".json": "json", ".md": "md", ".csv": "csv", ".html": "html",
                  ".htm": "html", ".safetensors": "safetensors", ".npz": "npz", ".mp4": "mp4", ".txt": "text"}


def _png_ours(head: bytes) -> bool:
    """PNG signature plus a ``tEXt Software=animegen...`` chunk before the image data."""
    if not head.startswith(b"\x89PNG\r\n\x1a\n"):
        return False
    i = 8
    while i + 8 <= len(head):
        n = int.from_bytes(head[i:i + 4], "big")
        kind = head[i + 4:i + 8]
        if kind == b"tEXt" and head[i + 8:i + 8 + n].startswith(b"Software\0" + MARKER.encode()):
            return True
        if kind in (b"IDAT", b"IEND"):
            return False
        i += 12 + n
    return False


def _safetensors_ours(head: bytes) -> bool:
    if len(head) < 8:
        return False
    n = int.from_bytes(head[:8], "little")
    try:
        meta = json.loads(head[8:8 + n]).get("__metadata__") or {}
    except (ValueError, AttributeError):
        return False
    return isinstance(meta, dict) and MARKER in meta


def _json_ours(data: bytes) -> bool:
    try:
        obj = json.loads(data)
    except ValueError:
        return False
    return isinstance(obj, dict) and str(obj.get("software", "")).startswith(MARKER)


OWNERSHIP: dict[str, Callable[[bytes], bool]] = {
    "png": _png_ours,
    "gif": lambda b: b.startswith((b"GIF87a", b"GIF89a")) and b"written by " + MARKER.encode() in b,
    "json": _json_ours,
    "md": lambda b: b.startswith(b"<!-- written by " + MARKER.encode()),
    "text": lambda b: b.startswith(b"# written by " + MARKER.encode()),
    "html": lambda b: b"<meta name='generator' content='" + MARKER.encode() in b[:4096],
    "csv": lambda b: b.startswith(b"# written by " + MARKER.encode()),
    "safetensors": _safetensors_ours,
    "npz": lambda b: b.startswith(b"PK\x03\x04") and MARKER.encode() in b[:4096],
    "mp4": lambda b: b[4:8] == b"ftyp",
}
"""How each output format recognises a file that an earlier animegen run wrote (a marker in the file)."""


def written_by_us(path: str | os.PathLike, fmt: str | None = None,
                  ours: Callable[[bytes], bool] | None = None) -> bool:
    """Whether the regular file ``path`` carries the animegen marker of its format (see :func:`check_output`)."""
    fmt = fmt or _SUFFIX_FORMAT.get(Path(path).suffix.lower())
    test = ours or OWNERSHIP.get(fmt or "")
    if test is None:
        return False
    try:
        limit = MAX_JSON_BYTES if fmt == "json" else _HEAD_BYTES
        st = require_regular(path)
        if fmt == "json" and st.st_size > limit:
            return False
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, flags)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            head = os.read(fd, limit)
        finally:
            os.close(fd)
    except OSError:
        return False
    return test(head)


def check_output(out: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (), kind: str = "file", *,
                 fmt: str | None = None, option: str = "--out", ours: Callable[[bytes], bool] | None = None) -> Path:
    """Validate an output path before any work starts; returns it as a Path.

    The rule: **never write over an input, nor over a file animegen did not write.**

    - ``kind="file"``: ``out`` must not be an existing folder. If something exists at ``out`` it must be
      a regular file (links followed; never a FIFO or device) that an earlier animegen run wrote, which
      is recognised by a marker in the file for its format ``fmt`` (default: from the suffix):
      PNG: a ``tEXt`` chunk ``Software=animegen ...`` (:func:`animegen.imaging.save_png`); GIF: the comment
      ``written by animegen``; JSON: a top-level ``"software": "animegen ..."`` key; Markdown, CSV and text:
      a first line ``<!-- written by animegen`` / ``# written by animegen``; HTML: a generator meta tag;
      safetensors: an ``animegen`` metadata key; ``.npz``: the word animegen in its first entries; MP4 (no
      marker): the MP4 signature. A file without the marker (a photo, a checkpoint under a .png name, a notes file, any
      unknown format) is refused, whatever its name.
    - ``kind="dir"``: ``out`` must not be an existing file. The command writes only its own names into
      the folder and replaces only what it wrote (:func:`atomic_dir` with ``owned``); call
      :func:`check_dir_output` for the names it will write.
    - In both cases ``out`` must not be one of ``inputs`` (the same path, or the same file through a link).

    Raises :class:`~animegen.errors.AnimegenError` with one line saying what to pass instead. ``option``
    names the option in that line. ``ours`` (bytes of the file's first MiB → bool) replaces the marker
    test for outputs whose format has no room for a marker (e.g. a CSV recognised by its header row).
    """
    from animegen.errors import AnimegenError

    p = Path(out).expanduser()
    if kind not in ("file", "dir"):
        raise ValueError(f"kind must be 'file' or 'dir', got {kind!r}")
    parent = p.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if os.path.lexists(parent) and not parent.is_dir():
        raise AnimegenError(f"{option} {p}: {parent} is a file, not a folder; choose another path")
    target = p.resolve()
    for item in inputs:
        if item is None or str(item) == "":
            continue
        src = Path(item).expanduser()
        try:
            rsrc = src.resolve()
            same = rsrc == target or (os.path.lexists(p) and src.exists() and os.path.samefile(src, p))
        except (OSError, RuntimeError):
            continue
        if same:
            raise AnimegenError(f"{option} {p} is an input of this command ({item}); choose another output path")
    if kind == "file":
        if p.is_dir():
            raise AnimegenError(f"{option} {p} is a folder; pass a file name (e.g. {p / 'out.png'})")
        if os.path.lexists(p):
            if not p.exists():
                raise AnimegenError(f"{option} {p} is a broken link; remove it or choose another file name")
            _check_replaceable(p, fmt, option, ours)
    elif os.path.lexists(p) and not p.is_dir():
        raise AnimegenError(f"{option} {p} is a file; pass a folder")
    return p


def _check_replaceable(p: Path, fmt: str | None, option: str, ours: Callable[[bytes], bool] | None) -> None:
    from animegen.errors import AnimegenError

    try:
        require_regular(p)
    except ReadRefused as exc:
        raise AnimegenError(f"{option} {exc}; choose another file name") from None
    except OSError as exc:
        raise AnimegenError(f"{option} {p}: {exc.strerror or exc}") from None
    if not written_by_us(p, fmt, ours):
        raise AnimegenError(f"{option} {p} exists and was not written by animegen; "
                            "move it away or choose another file name (animegen never overwrites your files)")


def check_dir_output(folder: str | os.PathLike, names: Iterable[str], owned: Iterable[str] = (),
                     fmt: str | None = None, option: str = "--out") -> None:
    """Before writing ``names`` into ``folder``: each existing one must be in ``owned`` (what an earlier run
    of the same writer left there, e.g. listed by its manifest) or pass :func:`check_output` (``fmt``)."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        return
    own = set(owned)
    for name in names:
        p = root / name
        if name in own or not os.path.lexists(p):
            continue
        check_output(p, (), kind="file", fmt=fmt, option=f"{option} {root}:")
