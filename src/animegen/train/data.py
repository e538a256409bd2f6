"""Batches of uint8 ``[N, H, W, C]`` images (in memory or a memory-mapped file), converted on the fly.

There is no per-epoch decoding and no worker process: a batch is a gather of uint8 rows, an optional
horizontal flip, and one conversion to float ``[B, C, H, W]`` in ``[-1, 1]``. On CPU this runs in numpy
(about 1 ms for 64 images of 64 px, against hundreds of milliseconds for a training step; torch's
intra-op threads are avoided on purpose, they spin badly on a busy CPU); on an accelerator the uint8
set lives on the device and the same steps run there.

A prepared dataset is a memory-mapped ``images.npy``. Reading rows through the mapping would make every
page the training touches resident in the process (a 1M-image set at 64 px is 12 GB), so on CPU the rows
of a file-backed array are read with ``os.preadv`` into a fresh buffer instead (:class:`FileRows`): the
kernel's page cache still serves repeated reads, but the process's resident memory stays flat whatever
the dataset size.

Order
-----
The training stream is the concatenation of per-epoch permutations of the training indices; the
permutation (and the flip decision of each position) of epoch ``e`` comes from
``numpy.random.default_rng([seed, e])`` alone. The loader's whole state is therefore ``(epoch,
position)``: saving and restoring it continues the data order exactly, independent of the global RNG.
A step consumes ``batches_per_step × batch_size`` consecutive images of the stream (spanning an epoch
boundary when needed, so small datasets drop nothing); under data parallelism rank ``r`` of ``W`` takes
the ``r``-th contiguous slice of that global batch.
"""
from __future__ import annotations

import mmap
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from animegen.errors import DataError


def split_indices(n: int, val_fraction: float = 0.05, seed: int = 0,
                  val_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices (sorted): the dataset's own ``val_mask`` if it has one, else a seeded
    random ``val_fraction`` share (at least one image when the fraction is positive)."""
    if n <= 0:
        raise DataError("the dataset is empty; nothing to train on")
    if val_mask is not None:
        mask = np.asarray(val_mask, dtype=bool)
        if mask.shape != (n,):
            raise DataError(f"dataset val_mask has shape {mask.shape}, expected ({n},)")
        train, val = np.flatnonzero(~mask), np.flatnonzero(mask)
    else:
        n_val = int(round(n * float(val_fraction))) if val_fraction > 0 else 0
        if val_fraction > 0 and n >= 2:
            n_val = min(max(1, n_val), n - 1)
        perm = np.random.default_rng(seed).permutation(n)
        train, val = np.sort(perm[n_val:]), np.sort(perm[:n_val])
    if len(train) == 0:
        raise DataError(f"no training images left after holding out {len(val)} for validation; "
                        "lower data.val_fraction")
    return train.astype(np.int64), val.astype(np.int64)


@dataclass
class LoaderState:
    epoch: int = 0
    position: int = 0
    """Index into epoch ``epoch``'s permutation of the next image to serve."""


_LUT = np.arange(256, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)  # uint8 → [-1, 1], = x / 127.5 - 1


def images_to_batch(u8: Tensor, channels_last: bool = False) -> Tensor:
    """uint8 ``[B, H, W, C]`` → float ``[B, C, H, W]`` in [-1, 1] (``x / 127.5 - 1``, as imaging.to_tensor)."""
    x = u8.permute(0, 3, 1, 2).float()  # [B, C, H, W], channels_last strides (the source is NHWC)
    x = x / 127.5 - 1.0
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


class FileRows:
    """Rows of a file-backed uint8 array (``np.memmap``, ``np.load(mmap_mode=...)``, or a view of one with
    C-contiguous rows) read with ``os.preadv``: nothing stays mapped, so resident memory does not grow."""

    def __init__(self, path: str, first: int, stride: int, row_shape: tuple[int, ...], n: int):
        self.path, self.first, self.stride, self.row_shape, self.n = path, first, stride, row_shape, n
        self.row_bytes = int(np.prod(row_shape))
        self.fd = os.open(path, os.O_RDONLY)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_RANDOM)  # random rows: no read-ahead

    @classmethod
    def of(cls, images: np.ndarray) -> FileRows | None:
        """A reader for ``images`` when it is a file mapping with contiguous uint8 rows, else None."""
        root: np.ndarray | None = images
        while root is not None and not isinstance(root, np.memmap):
            root = root.base if isinstance(root.base, np.ndarray) else None
        if root is None:
            return None
        mm, path = getattr(root, "_mmap", None), getattr(root, "filename", None)
        if mm is None or not path or images.dtype != np.uint8 or images.ndim < 2 or images.strides[0] <= 0:
            return None
        if images.strides[1:] != np.empty(images.shape[1:], np.uint8).strides:
            return None  # rows are not C-contiguous
        start = int(root.offset) - int(root.offset) % mmap.ALLOCATIONGRANULARITY  # where the mapping begins
        base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
        first = start + images.__array_interface__["data"][0] - base
        return cls(str(path), first, int(images.strides[0]), tuple(images.shape[1:]), len(images))

    def take(self, idx: np.ndarray) -> np.ndarray:
        """uint8 ``[len(idx), *row_shape]``: a fresh array (never a view of the file)."""
        out = np.empty((len(idx), *self.row_shape), dtype=np.uint8)
        flat = out.reshape(len(idx), self.row_bytes)
        for k, i in enumerate(np.asarray(idx, dtype=np.int64)):
            if not 0 <= i < self.n:
                raise IndexError(f"row {i} out of range for {self.n} images")
            if os.preadv(self.fd, [flat[k]], self.first + int(i) * self.stride) != self.row_bytes:
                raise DataError(f"{self.path}: short read at row {i} (the file was truncated while training?)")
        return out

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        self.close()


def numpy_batch(images: np.ndarray, idx: np.ndarray, flips: np.ndarray | None, channels_last: bool,
                rows: FileRows | None = None) -> Tensor:
    """The CPU path, in numpy (single-threaded, no contention with torch's intra-op threads):
    gather rows (read from the file when ``rows`` is given), mirror the flagged ones, and map uint8 → float32
    through a 256-entry table in one pass."""
    a = rows.take(idx) if rows is not None else images[idx]  # [B, H, W, C] uint8 copy
    if flips is not None:
        for i in np.flatnonzero(flips):
            a[i] = a[i, :, ::-1]  # mirror along W
    if channels_last:
        return torch.from_numpy(_LUT[a]).permute(0, 3, 1, 2)  # [B, C, H, W] view with NHWC strides
    b, h, w, c = a.shape
    out = np.empty((b, c, h, w), dtype=np.float32)
    np.take(_LUT, a.transpose(0, 3, 1, 2), out=out)  # [B, C, H, W] contiguous
    return torch.from_numpy(out)


class BatchLoader:
    """Endless deterministic batches of training images, resumable from :class:`LoaderState`."""

    def __init__(self, images: np.ndarray, indices: np.ndarray, batch_size: int, seed: int = 0,
                 hflip: bool = False, device: torch.device | str = "cpu", channels_last: bool = False,
                 rank: int = 0, world_size: int = 1):
        if images.dtype != np.uint8 or images.ndim != 4:
            raise DataError(f"expected uint8 images [N, H, W, C], got {images.dtype} {images.shape}")
        if len(indices) == 0:
            raise DataError("no training images")
        if batch_size % world_size:
            raise DataError(f"the global batch ({batch_size} images) does not split evenly over {world_size} "
                            "processes; make train.batch_size a multiple of the process count")
        self.device = torch.device(device)
        self.rows = FileRows.of(images) if self.device.type == "cpu" else None  # a mapped file: read, not mapped
        self.images = images if self.rows is not None else np.ascontiguousarray(images)  # [N, H, W, C] uint8
        self.data: Tensor | None = None
        if self.device.type != "cpu":
            data = torch.from_numpy(self.images)  # shares memory
            if data.numel() <= (2 << 30):
                data = data.to(self.device)  # whole uint8 set on the accelerator (≈200 MB for 16k faces at 64 px)
            self.data = data
        self.indices = np.asarray(indices, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.hflip = bool(hflip)
        self.channels_last = channels_last
        self.rank, self.world_size = rank, world_size
        self.state = LoaderState()
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        """Images per epoch."""
        return len(self.indices)

    @property
    def epoch_float(self) -> float:
        return self.state.epoch + self.state.position / len(self.indices)

    def epoch_order(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(dataset indices in serving order, flip flags) of ``epoch``; a pure function of (seed, epoch)."""
        if self._cache is None or self._cache[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            perm = rng.permutation(len(self.indices))
            flips = rng.random(len(self.indices)) < 0.5 if self.hflip else np.zeros(len(self.indices), bool)
            self._cache = (epoch, self.indices[perm], flips)
        return self._cache[1], self._cache[2]

    def next_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Dataset indices and flip flags of the next *global* batch; advances the state."""
        need = self.batch_size
        idx_parts, flip_parts = [], []
        epoch, pos = self.state.epoch, self.state.position
        while need > 0:
            order, flips = self.epoch_order(epoch)
            take = min(need, len(order) - pos)
            idx_parts.append(order[pos:pos + take])
            flip_parts.append(flips[pos:pos + take])
            need -= take
            pos += take
            if pos >= len(order):
                epoch, pos = epoch + 1, 0
        self.state = LoaderState(epoch, pos)
        return np.concatenate(idx_parts), np.concatenate(flip_parts)

    def next(self) -> Tensor:
        """This rank's share of the next global batch: float ``[B / world, C, H, W]`` in [-1, 1] on the device."""
        idx, flips = self.next_indices()
        per = self.batch_size // self.world_size
        idx, flips = idx[self.rank * per:(self.rank + 1) * per], flips[self.rank * per:(self.rank + 1) * per]
        return self.gather(idx, flips)

    def gather(self, idx: np.ndarray, flips: np.ndarray | None = None) -> Tensor:
        """Float ``[B, C, H, W]`` batch of dataset rows ``idx`` (mirrored where ``flips``), on the device."""
        if self.data is None:  # CPU
            return numpy_batch(self.images, idx, flips, self.channels_last, self.rows)
        t_idx = torch.from_numpy(idx).to(self.data.device)
        u8 = self.data.index_select(0, t_idx)  # [B, H, W, C] uint8
        if flips is not None and flips.any():
            mask = torch.from_numpy(flips).to(u8.device)[:, None, None, None]
            u8 = torch.where(mask, u8.flip(2), u8)  # mirror along W
        if u8.device != self.device:
            u8 = u8.to(self.device, non_blocking=True)
        return images_to_batch(u8, self.channels_last)

    def state_dict(self) -> dict:
        return {"epoch": self.state.epoch, "position": self.state.position}

    def load_state_dict(self, state: dict) -> None:
        self.state = LoaderState(int(state["epoch"]), int(state["position"]))


def fixed_batches(loader: BatchLoader, indices: np.ndarray, batch_size: int, mirrored: bool = False):
    """Batches of the given dataset ``indices`` (validation, reference images), unflipped, or all mirrored."""
    for i in range(0, len(indices), batch_size):
        idx = np.asarray(indices[i:i + batch_size], dtype=np.int64)
        yield loader.gather(idx, np.ones(len(idx), dtype=bool) if mirrored else None)
