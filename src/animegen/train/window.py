"""What the training loop accumulates between two log lines, how it logs them, and how it prints durations."""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from animegen import runs
from animegen.train import distributed as D
from animegen.train.context import Divergence

if TYPE_CHECKING:
    from animegen.train.trainer import Trainer


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


def log_window(tr: Trainer, window: LogWindow) -> None:
    """Log the window's mean scalars and throughput; a non-finite training scalar is a divergence (every rank
    takes the same decision)."""
    means = window.means()
    bad = [k for k, v in means.items() if k.startswith("train/") and not math.isfinite(v)]
    if D.any_flag([bool(bad)], tr.dist, tr.device)[0]:  # every rank takes the same decision
        raise Divergence(tr.step, "-", float("nan"), float("nan"),
                         f"train_step logged non-finite {bad[0] if bad else 'values on another rank'}")
    if not tr.is_main:
        return
    n_img = tr.images_per_step * window.n
    if tr.device.type == "cuda":
        torch.cuda.synchronize(tr.device)  # kernels run asynchronously: time what has finished
    busy = max(time.perf_counter() - window.t_open - window.side_s, 1e-9)  # wall time of the training steps
    tr.img_per_s = n_img / busy
    scalars = {**means, "perf/img_per_s": tr.img_per_s, "perf/data_share": window.data_s / busy,
               "perf/step_ms": 1000 * busy / max(window.n, 1), "lr_scale": tr.lr_scale,
               "epoch": tr.loader.epoch_float}
    if tr.tc.lr_decay > 0:
        scalars["lr_decay_factor"] = tr.lr_factor
    tr.logger.log(tr.step, scalars)
    tr.last_losses = {k[6:]: v for k, v in means.items() if k.startswith("train/")}
    if tr.bar is not None:
        shown = list(tr.last_losses.items())[:3]
        tr.bar.set_postfix_str(" ".join(f"{k} {v:.4g}" for k, v in shown) + f" | {tr.img_per_s:.0f} img/s")


def summary_line(tr: Trainer, stop: str, elapsed: float, start_step: int | None = None) -> str:
    """The line a finished run prints: steps, speed, last losses, the best checkpoint and the model's path."""
    done = tr.step - (start_step if start_step is not None else tr.step)
    rate = done * tr.images_per_step / max(elapsed, 1e-9) if done else 0.0
    losses = ", ".join(f"{k} {v:.4g}" for k, v in list(tr.last_losses.items())[:4])
    why = " (time budget reached)" if stop == "time" else ""
    val = f", best {tr.best['metric']} {tr.best['value']:.4g} at step {tr.best['step']}" if tr.best else ""
    if tr.eval_cpu:
        val += f", evaluation {100 * tr.eval_cpu / max(time.process_time() - tr.cpu_start, 1e-9):.1f}% of CPU"
    return (f"done: step {tr.step}/{tr.tc.steps}{why} in {fmt_time(elapsed)} ({rate:.0f} img/s); "
            f"{losses}{val}; rollbacks {tr.rollbacks}; model: {tr.run_dir / runs.FINAL}")
