"""The in-memory image set every data source resolves to, and its size/channel conversion.

It sits below every reader (folders, archives, synthetic faces, MNIST, prepared datasets) and below
:mod:`animegen.data.sources`, which dispatches to them, so no reader imports the dispatcher.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from animegen.errors import DataError


@dataclass
class ImageSet:
    """A set of images in memory plus what is known about them."""

    images: np.ndarray
    """uint8 ``[N, H, W, C]`` (C = 3 RGB or 1 grayscale)."""
    name: str
    fingerprint: str
    """Content hash: the key of cached reference statistics (FID) and of prepared caches."""
    labels: dict[str, np.ndarray] | None = None
    """Per-image attributes (synthetic faces: ground truth; MNIST: ``digit``)."""
    val_mask: np.ndarray | None = None
    """bool ``[N]``: images the manifest holds out for validation, if it defines a split."""
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def size(self) -> int:
        return int(self.images.shape[1])

    @property
    def channels(self) -> int:
        return int(self.images.shape[3])


def convert(ds: ImageSet, size: int | None, channels: int | None) -> ImageSet:
    """``ds`` with its images resized to ``size`` and converted to ``channels`` (None: keep)."""
    imgs = ds.images
    if channels is not None and imgs.shape[3] != channels:
        if channels == 1:  # ITU-R 601-2 luma, like PIL's "L"
            w = np.array([0.299, 0.587, 0.114], dtype=np.float32)
            imgs = np.clip((imgs.astype(np.float32) @ w).round(), 0, 255).astype(np.uint8)[..., None]
        elif channels == 3 and imgs.shape[3] == 1:
            imgs = np.repeat(imgs, 3, axis=3)
        else:
            raise DataError(f"cannot convert {imgs.shape[3]}-channel images to {channels} channels")
    if size is not None and imgs.shape[1] != size:
        from animegen.imaging import resize_array  # imports torch: only when resizing

        imgs = resize_array(imgs, size)
    if imgs is ds.images:
        return ds
    return ImageSet(imgs, ds.name, f"{ds.fingerprint}-{imgs.shape[1]}x{imgs.shape[3]}", ds.labels, ds.val_mask, ds.meta)
