"""Worker for the 2-process (gloo) data-parallel test; imported by torch.multiprocessing.spawn children."""
from __future__ import annotations

import os
from pathlib import Path

import torch


def worker(rank: int, world: int, port: int, out: str, configs: list) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist
    from safetensors.torch import save_file
    from train_toys import random_images, register

    from animegen.train import Trainer

    register()
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        for name, cfg in configs:
            trainer = Trainer(cfg, Path(out) / name, data=random_images())
            trainer.run()
            state = {k: v.detach().contiguous() for k, v in trainer.model.state_dict().items()}
            save_file(state, str(Path(out) / f"{name}-rank{rank}.safetensors"))
    finally:
        dist.destroy_process_group()
