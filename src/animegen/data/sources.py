"""Resolve a data source string to an in-memory uint8 image array.

Accepted specs (anywhere a ``--data``/``DATASET`` argument is taken):

=====================  =========================================================================
``synth:N``            N built-in procedural faces (``synth:N:SEED``; ``synth:N:SEED:correlate``)
``mnist:DIR``          MNIST IDX files in DIR (``mnist:DIR:test`` for the t10k split)
``hf:NAME``            a Hugging Face ``datasets`` name or local imagefolder (prepared and cached)
``PATH``               a prepared dataset folder (``manifest.json`` + ``images.npy``), or a raw
                       image folder / .zip / .tar(.gz) of face crops (prepared and cached)
=====================  =========================================================================
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
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


def _convert(ds: ImageSet, size: int | None, channels: int | None) -> ImageSet:
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


def open_source(spec: str, size: int | None = None, channels: int | None = None, quiet: bool = False) -> ImageSet:
    """Load the images named by ``spec`` (see module doc), resized/converted to ``size``/``channels``."""
    spec = str(spec).strip()
    if not spec:
        raise DataError("empty data source; pass a folder, a prepared dataset, synth:N or mnist:DIR")
    scheme, _, rest = spec.partition(":")
    if scheme == "synth":
        from animegen.data.synthetic import open_synthetic

        ds = open_synthetic(rest, size=size or 64)
    elif scheme == "mnist":
        from animegen.data.mnist import open_mnist

        ds = open_mnist(rest)
    elif scheme == "hf":
        from animegen.data.prepare import open_or_prepare

        ds = open_or_prepare(spec, size=size or 64, quiet=quiet)
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise DataError(f"data source not found: {spec} (expected a folder, archive, synth:N or mnist:DIR)")
        if path.is_dir() and (path / "manifest.json").is_file():
            from animegen.data.prepared import load_prepared

            ds = load_prepared(path)
        else:
            from animegen.data.prepare import open_or_prepare

            ds = open_or_prepare(spec, size=size or 64, quiet=quiet)
    return _convert(ds, size, channels)
