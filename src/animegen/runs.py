"""Run folders and metric logs.

``runs/<name>-<n>/`` is created atomically with the next free number. Every logged scalar goes to
``metrics.jsonl`` (one JSON object per line, flushed at once so a crash loses nothing already
logged) and, when ``tensorboard`` is installed, to TensorBoard event files in ``tb/``.
"""
from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any


def create_run_dir(root: str | Path, name: str) -> Path:
    """Make ``root/<name>-<n>`` with the smallest unused ``n`` ≥ 1 (safe against concurrent runs)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    pattern = re.compile(rf"^{re.escape(safe)}-(\d+)$")
    taken = [int(m.group(1)) for p in root.iterdir() if (m := pattern.match(p.name))]
    n = max(taken, default=0) + 1
    while True:
        path = root / f"{safe}-{n}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1


class MetricLogger:
    """Append scalars to ``metrics.jsonl`` and (optionally) TensorBoard.

    ``purge_step`` (a resumed run: its step + 1): TensorBoard hides the events an interrupted run logged at or
    after it, as the trainer trims ``metrics.jsonl``, so each step appears once in both logs.
    """

    def __init__(self, run_dir: str | Path, tensorboard: bool = True, enabled: bool = True,
                 purge_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._fh = open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") if enabled else None
        self._tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(self.run_dir / "tb"), purge_step=purge_step)
            except Exception:  # tensorboard not installed: JSONL only
                self._tb = None

    def log(self, step: int, scalars: dict[str, Any], **fields: Any) -> None:
        if not self.enabled:
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


def read_metrics(run_dir: str | Path) -> list[dict]:
    """All records of a run's ``metrics.jsonl`` (a torn last line from a crash is ignored)."""
    path = Path(run_dir) / "metrics.jsonl"
    out = []
    if not path.exists():
        return out
    from animegen.fsutil import read_text_limited

    for line in read_text_limited(path).splitlines():  # a regular file, bounded: never a FIFO
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
