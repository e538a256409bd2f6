"""Worker for the 2-process (gloo) data-parallel test; imported by torch.multiprocessing.spawn children.

Each job is ``(name, cfg, resume_steps)``: train ``cfg`` into ``out/name``; with ``resume_steps`` the run is
then continued with ``--resume`` up to that many steps (both ranks resume the folder rank 0 wrote). Every
rank saves its final weights (``name-rankR.safetensors``) and the dataset indices its loader served, step
by step (``name-rankR.json``), so the test can check the sharding.
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import torch


def record_served_indices(served: list) -> None:
    """Wrap BatchLoader.next/gather (in this child only) to record the indices of each training batch."""
    from animegen.train.data import BatchLoader

    orig_next, orig_gather = BatchLoader.next, BatchLoader.gather

    def next_(self):
        self._recording = True
        try:
            return orig_next(self)
        finally:
            self._recording = False

    def gather_(self, idx, flips=None):
        if getattr(self, "_recording", False):
            served.append([int(i) for i in idx])
        return orig_gather(self, idx, flips)

    BatchLoader.next, BatchLoader.gather = next_, gather_  # type: ignore[method-assign]


def worker(rank: int, world: int, port: int, out: str, configs: list) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist
    from safetensors.torch import save_file
    from train_toys import random_images, register

    from animegen.train import Trainer

    register()
    served: list = []
    record_served_indices(served)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        for name, cfg, resume_steps in configs:
            served.clear()
            trainer = Trainer(cfg, Path(out) / name, data=random_images())
            run_dir = trainer.run()
            if resume_steps:
                dist.barrier()  # a new launch in real use: rank 0 has written the state before anyone resumes
                more = copy.deepcopy(cfg)
                more.train.steps = resume_steps
                trainer = Trainer(more, Path(out) / name, resume=run_dir, data=random_images())
                trainer.run()
            state = {k: v.detach().contiguous() for k, v in trainer.model.state_dict().items()}
            save_file(state, str(Path(out) / f"{name}-rank{rank}.safetensors"))
            (Path(out) / f"{name}-rank{rank}.json").write_text(json.dumps(served))
    finally:
        dist.destroy_process_group()
