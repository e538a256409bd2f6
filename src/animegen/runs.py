"""Run folders: their file names, config, metric log, preferred checkpoint and writer lock.

``runs/<name>-<n>/`` is created atomically with the next free number. Every logged scalar goes to
``metrics.jsonl`` (one JSON object per line, flushed at once so a crash loses nothing already
logged) and, when ``tensorboard`` is installed, to TensorBoard event files in ``tb/``.

Every command that reads or writes a run folder (the trainer, ``sample``, ``evaluate``, ``compare``,
``demo``) takes the file names below and :func:`preferred_checkpoint` from here. One process at a
time may write a run: :class:`RunLock` holds ``RUN/.lock`` (``fcntl.flock``, released by the kernel
when the process exits or crashes).
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from animegen.errors import AnimegenError, CheckpointError, ConfigError

if TYPE_CHECKING:
    from animegen.config import RunConfig

CONFIG = "config.json"
"""The fully resolved RunConfig (``--resume`` reads it back)."""
METRICS = "metrics.jsonl"
STATE = "train_state.safetensors"
"""The resumable training state (:mod:`animegen.train.state`)."""
FINAL, BEST, LAST = "final.safetensors", "best.safetensors", "last.safetensors"
PREFERRED = (FINAL, BEST, LAST)
"""The checkpoint a run folder stands for: final, else best, else last."""
SAMPLES, RECON, TENSORBOARD = "samples", "recon", "tb"
LOCK = ".lock"
MAX_CONFIG_BYTES = 1 << 20
"""A run's config.json is a few KB; anything larger is not one (and is not read into memory)."""


def preferred_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file as given, or the preferred checkpoint (:data:`PREFERRED`) of a run folder."""
    p = Path(path)
    if p.is_dir():
        for name in PREFERRED:
            if (p / name).is_file():
                return p / name
        raise CheckpointError(f"{p}: no final/best/last.safetensors in this folder; pass a checkpoint file")
    return p


def read_config_dict(run_dir: str | os.PathLike) -> dict:
    """The raw ``config.json`` of a run folder as a dict; ConfigError (one line) when it is missing or broken."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a run folder")
    if not path.is_file():
        raise ConfigError(f"{run_dir} has no {CONFIG} (is it an animegen run folder?)")
    from animegen.fsutil import read_text_limited

    try:  # a regular file, bounded: never a FIFO or /dev/zero
        data = json.loads(read_text_limited(path, MAX_CONFIG_BYTES))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({str(exc).splitlines()[0][:120]})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object of settings, got {type(data).__name__}")
    return data


def read_run_config(run_dir: str | os.PathLike) -> RunConfig:
    """The RunConfig saved in a run folder's ``config.json``, checked like a recipe (types and bounds)."""
    from animegen.config import run_config_from_dict
    from animegen.limits import check_run_config

    data = read_config_dict(run_dir)
    try:
        cfg = run_config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{Path(run_dir) / CONFIG}: {exc}") from None
    check_run_config(cfg, where=f"{Path(run_dir) / CONFIG}: ")
    return cfg


def find_config_dict(checkpoint: str | os.PathLike) -> dict:
    """The config.json of the run a checkpoint file belongs to (its folder or the one above), or {}."""
    ckpt = Path(checkpoint)
    for folder in (ckpt.parent, ckpt.parent.parent):
        if (folder / CONFIG).is_file():
            try:
                return read_config_dict(folder)
            except ConfigError:
                return {}
    return {}


class RunInUse(AnimegenError):
    """Another process is writing this run folder."""


class RunLock:
    """Exclusive, non-blocking lock on a run folder (``RUN/.lock`` + ``fcntl.flock``).

    ``acquire()`` raises :class:`RunInUse` naming the holder's pid; the kernel drops the lock when the
    holding process exits or crashes, so a stale ``.lock`` file never blocks anyone.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / LOCK
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            raise AnimegenError(f"cannot lock run {self.path.parent} ({exc.strerror}); "
                                "a run folder must be a writable folder") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or device planted as .lock: never write to it
            os.close(fd)
            raise AnimegenError(f"{self.path} is not a regular file; remove it to use this run")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            finally:
                os.close(fd)
            raise RunInUse(f"run {self.path.parent} is in use by pid {holder} (one writer per run; wait for it "
                           "to finish or stop it, then try again)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _numbered(root: Path, name: str) -> tuple[str, dict[int, Path]]:
    """The folder-safe form of ``name`` and the existing ``root/<safe>-<n>`` entries by ``n``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    pattern = re.compile(rf"^{re.escape(safe)}-(\d+)$")
    return safe, {int(m.group(1)): p for p in root.iterdir() if (m := pattern.match(p.name))}


def newest_run_dir(root: str | Path, name: str, holding: str | None = None) -> Path | None:
    """The run folder ``root/<name>-<n>`` that :func:`create_run_dir` made last (largest ``n``), among those
    holding the file ``holding`` when given; None if there is none."""
    root = Path(root)
    if not root.is_dir():
        return None
    found = _numbered(root, name)[1]
    ok = [n for n, p in found.items() if p.is_dir() and (holding is None or (p / holding).is_file())]
    return found[max(ok)] if ok else None


def create_run_dir(root: str | Path, name: str) -> Path:
    """Make ``root/<name>-<n>`` with the smallest unused ``n`` ≥ 1 (safe against concurrent runs)."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise AnimegenError(f"--out {root} is a file; pass the folder that receives run folders")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AnimegenError(f"cannot create {root}: {exc.strerror}") from None
    safe, taken = _numbered(root, name)
    n = max(taken, default=0) + 1
    while True:
        path = root / f"{safe}-{n}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1


_EVENT_TIME = re.compile(r"^events\.out\.tfevents\.(\d{10})\.")


def wait_past_event_files(tb_dir: Path, max_wait_s: float = 2.0) -> None:
    """Wait until a new TensorBoard event file in ``tb_dir`` would sort after every file already there.

    TensorBoard reads a folder's event files in name order, and a purge (a resumed run's ``purge_step``)
    applies only to the files before its own. A file's name is
    ``events.out.tfevents.<10-digit second>.<host>.<pid>.<counter>``: within one second, names order by pid
    and counter as text (``.10`` before ``.2``), so a run resumed in the second its previous segment started
    could sort first. A strictly later second always sorts last; this waits for it (at most ``max_wait_s``,
    so a clock set back never stalls a run).
    """
    try:
        newest = max((int(m.group(1)) for e in os.scandir(tb_dir) if (m := _EVENT_TIME.match(e.name))), default=None)
    except OSError:  # no folder yet: nothing to sort after
        return
    if newest is None:
        return
    deadline = time.monotonic() + max_wait_s
    while int(time.time()) <= newest and time.monotonic() < deadline:
        time.sleep(0.05)


class MetricLogger:
    """Append scalars to ``metrics.jsonl`` and (optionally) TensorBoard.

    ``purge_step`` (a resumed run: its step + 1): TensorBoard hides the events an interrupted run logged at or
    after it, as the trainer trims ``metrics.jsonl``, so each step appears once in both logs.
    """

    def __init__(self, run_dir: str | Path, tensorboard: bool = True, enabled: bool = True,
                 purge_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._fh = open(self.run_dir / METRICS, "a", encoding="utf-8") if enabled else None
        self._tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                tb_dir = self.run_dir / TENSORBOARD
                wait_past_event_files(tb_dir)
                self._tb = SummaryWriter(log_dir=str(tb_dir), purge_step=purge_step)
            except Exception:  # tensorboard not installed: JSONL only
                self._tb = None

    def log(self, step: int, scalars: dict[str, Any], **fields: Any) -> None:
        if not self.enabled or self._fh is None:
            return
        clean = {}
        for k, v in scalars.items():
            f = float(v.item() if hasattr(v, "item") else v)
            clean[k] = f if math.isfinite(f) else str(f)
        rec = {"step": int(step), "time": round(time.time(), 3), **fields, **clean}
        self._fh.write(json.dumps(rec) + "\n")
        self._fh.flush()
        if self._tb is not None:
            for k, v in clean.items():
                if isinstance(v, float):
                    self._tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self._fh:
            self._fh.close()
            self._fh = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def last_step(records: Iterable[dict]) -> int:
    """The highest step in a run's metric records (:func:`read_metrics`), 0 when none has one."""
    return max((int(r.get("step", 0)) for r in records), default=0)


def read_metrics(run_dir: str | Path) -> list[dict]:
    """All records of a run's ``metrics.jsonl`` (a torn last line from a crash is ignored)."""
    path = Path(run_dir) / METRICS
    out: list[dict] = []
    if not path.exists():
        return out
    from animegen.fsutil import MAX_JSON_BYTES, read_limited

    try:  # a regular file, bounded: never a FIFO; a damaged byte spoils one line, not the log
        text = read_limited(path, MAX_JSON_BYTES).decode("utf-8", errors="replace")
    except OSError as exc:
        raise AnimegenError(f"{path}: cannot read the metrics log ({exc})") from None
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out
