"""Data-parallel training without DDP wrappers: the trainer calls these few collectives itself.

Launch with ``torchrun --nproc_per_node N -m animegen train ...`` (torchrun ships with torch; nothing
else is needed). It sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``, which
:func:`init_from_env` reads (backend ``nccl`` on CUDA, ``gloo`` on CPU).

What each rank does
-------------------
* Rank 0 creates the run folder and writes every file; the others only compute.
* Initial weights and buffers are broadcast from rank 0, so every rank starts identical.
* Every ``ctx.optimize`` averages the gradients of that optimizer's parameters over ranks (flattened into
  buckets of ~25 MB, one ``all_reduce`` each) before measuring, clipping and stepping: since every rank
  then applies the same update, the weights stay identical without any further synchronisation.
* Buffers (BatchNorm running statistics) are broadcast from rank 0 before each step, like DDP's
  ``broadcast_buffers``. BatchNorm *batch* statistics are still computed per rank on the local shard,
  so a BN model trained on 2 × 32 images is not numerically the same as one trained on 64 (that would
  need SyncBatchNorm); models without BN match a single-process run on the same global batch.
* Each rank takes its own contiguous shard of every global batch (see :mod:`animegen.train.data`).
* Noise RNG: rank ``r`` seeds torch/numpy/random with ``train.seed + 1_000_003 * r`` after the model is
  built, so ranks draw different latents while rank 0 draws exactly what a single-process run draws.
  Checkpoints store every rank's RNG state (gathered to rank 0), so a resume with the same number of
  processes is bit-identical; with another number the noise is reseeded (and a note says so).
* ``--resume`` reads ``train_state.safetensors`` on every rank: multi-node runs need the run folder on
  a shared filesystem.
"""
from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

RANK_SEED_STRIDE = 1_000_003
BUCKET_BYTES = 25 * 1024 * 1024


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False
    """True when :func:`init_from_env` created the process group (and :func:`cleanup` should destroy it)."""

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def rank_seed(seed: int, rank: int) -> int:
    return int(seed) + RANK_SEED_STRIDE * int(rank)


def init_from_env(device_type: str | None = None) -> DistInfo:
    """Join the process group described by torchrun's environment variables (or run alone)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), False)
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1 or not dist.is_available():
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    if device_type is None:
        device_type = "cuda" if torch.cuda.is_available() else "cpu"
    backend = "nccl" if device_type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world,
                            timeout=datetime.timedelta(minutes=30))
    return DistInfo(rank, world, local_rank, True)


def cleanup(info: DistInfo, finished: bool = False) -> None:
    """Destroy the process group this process created.

    ``finished``: every rank reached the end normally, so they first meet at a barrier and no rank tears its
    gloo connections down while rank 0 still writes its last files (2-process CPU runs occasionally ended
    with one rank aborting at teardown). After an error the barrier is skipped: the other ranks may never come.
    """
    if info.owns_group and dist.is_initialized():
        if finished and info.enabled:
            dist.barrier()
        dist.destroy_process_group()


@torch.no_grad()
def broadcast_module(module: torch.nn.Module, info: DistInfo, buffers_only: bool = False) -> None:
    """Copy rank 0's parameters (unless ``buffers_only``) and buffers to every rank."""
    if not info.enabled:
        return
    tensors = [] if buffers_only else [p.data for p in module.parameters()]
    tensors += [b for b in module.buffers()]
    _broadcast_flat(tensors)


def _buckets(tensors: Sequence[Tensor], bucket_bytes: int = BUCKET_BYTES) -> list[list[Tensor]]:
    out: list[list[Tensor]] = []
    cur: list[Tensor] = []
    size = 0
    for t in tensors:
        nbytes = t.numel() * t.element_size()
        if cur and (t.dtype != cur[0].dtype or t.device != cur[0].device or size + nbytes > bucket_bytes):
            out.append(cur)
            cur, size = [], 0
        cur.append(t)
        size += nbytes
    if cur:
        out.append(cur)
    return out


def _unflatten_into(flat: Tensor, bucket: list[Tensor]) -> None:
    offset = 0
    for t in bucket:
        n = t.numel()
        t.copy_(flat[offset:offset + n].view(t.shape))  # copy_ respects t's strides (channels_last)
        offset += n


def _broadcast_flat(tensors: Sequence[Tensor]) -> None:
    for bucket in _buckets(tensors):
        flat = torch.cat([t.reshape(-1) for t in bucket])
        dist.broadcast(flat, src=0)
        _unflatten_into(flat, bucket)


@torch.no_grad()
def all_reduce_mean_(tensors: Sequence[Tensor], info: DistInfo) -> None:
    """Average ``tensors`` in place over ranks, flattened into ~25 MB buckets (one all_reduce each)."""
    if not info.enabled or not tensors:
        return
    for bucket in _buckets(tensors):
        flat = torch.cat([t.reshape(-1) for t in bucket])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(info.world_size)
        _unflatten_into(flat, bucket)


def any_flag(flags: Sequence[bool], info: DistInfo, device: torch.device | str = "cpu") -> list[bool]:
    """Element-wise OR of boolean flags over ranks (stop requests, time budget), so all ranks agree."""
    return [v > 0 for v in all_max([1.0 if f else 0.0 for f in flags], info, device)]


def all_max(values: Sequence[float], info: DistInfo, device: torch.device | str = "cpu") -> list[float]:
    """Element-wise maximum of numbers over ranks (a run's progress through its time budget), so all agree."""
    if not info.enabled:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float32, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [float(v) for v in t.tolist()]


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every rank (small Python values: the run folder, a resume step)."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj`` (in rank order) on every rank; used for per-rank RNG states."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
