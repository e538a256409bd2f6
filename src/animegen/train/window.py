"""What the training loop accumulates between two log lines, and how it prints durations."""
from __future__ import annotations

import time

import torch
from torch import Tensor


def fmt_time(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class LogWindow:
    """Scalars and timings accumulated between two log lines (tensors: no host sync per step)."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.n = 0
        self.data_s = 0.0
        self.step_s = 0.0
        self.side_s = 0.0
        """Time spent on samples/evaluation/checkpoints inside the window (not training throughput)."""
        self.t_open = time.perf_counter()

    def add(self, scalars: dict[str, Tensor], data_s: float, step_s: float) -> None:
        for k, v in scalars.items():
            v = v.detach().float() if isinstance(v, Tensor) else torch.tensor(float(v))
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
        self.n += 1
        self.data_s += data_s
        self.step_s += step_s

    def means(self) -> dict[str, float]:
        if not self.sums:
            return {}
        keys = list(self.sums)
        vals = torch.stack([self.sums[k].reshape(()).cpu() for k in keys]) / max(self.n, 1)
        return dict(zip(keys, vals.tolist(), strict=True))
