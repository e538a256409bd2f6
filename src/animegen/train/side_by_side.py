"""Train two runs at the same time in one process, each on its share of the CPU cores.

A small model gains less than twice the speed from a second intra-op thread (its convolutions are too small to
split well), so two such runs side by side, one thread each, for the whole time make more steps together than the
same runs one after the other on all threads, each for its share of the time (the demo's VAE and GAN are measured
in BENCHMARKS.md). The runs share the process: torch releases the GIL inside its kernels, and each run keeps its own
model, optimisers, data stream and run folder. Used by ``animegen demo``. Both draw from torch's global random
generator in turn, so a run trained side by side does not repeat exactly from its seed (a wall-clock budget
already makes the demo's runs differ from one machine to the next).

Ctrl-C stops both: the run on the main thread stops after its step and saves as usual
(:class:`~animegen.train.trainer.Trainer`), then the other one is asked to do the same
(:meth:`Trainer.request_stop`), and the demo waits for its checkpoint before it exits. A run that fails in the
background thread raises its error here once the main run is done, so nothing is lost silently.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import torch

from animegen.config import RunConfig
from animegen.cpus import usable_cores
from animegen.data.sources import ImageSet

SWITCH_INTERVAL_S = 0.0005
"""Python's GIL switch interval while two runs train (default 0.005 s): a run returning from a torch kernel waits
at most this long for the other run's Python code to hand the GIL back."""


def train_side_by_side(main_cfg: RunConfig, other_cfg: RunConfig, out_dir: str | Path,
                       data: ImageSet | None = None, threads: int | None = None) -> tuple[Path, Path]:
    """Train ``main_cfg`` on this thread and ``other_cfg`` on a second one, ``threads`` intra-op threads each
    (default: half the cores, at least 1); return both run folders (main first)."""
    from animegen.train.trainer import Trainer

    threads = threads or max(1, usable_cores() // 2)
    other = Trainer(other_cfg, out_dir, data=data)
    outcome: dict[str, object] = {}

    def background() -> None:
        try:
            outcome["dir"] = other.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread below
            outcome["error"] = exc

    before, interval = torch.get_num_threads(), sys.getswitchinterval()
    torch.set_num_threads(threads)  # before the thread starts: it inherits the setting
    sys.setswitchinterval(SWITCH_INTERVAL_S)  # each op re-takes the GIL: do not make it wait a whole 5 ms slice
    worker = threading.Thread(target=background, name=f"train-{other_cfg.name}", daemon=True)
    try:
        worker.start()
        main_dir = Trainer(main_cfg, out_dir, data=data).run()
        worker.join()
    except BaseException:  # Ctrl-C or a failure of the main run: the other one saves and stops too
        other.request_stop()
        worker.join()
        raise
    finally:
        torch.set_num_threads(before)
        sys.setswitchinterval(interval)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return main_dir, Path(outcome["dir"])  # type: ignore[arg-type]
