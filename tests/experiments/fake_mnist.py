"""A tiny stand-in for the MNIST IDX files (blob "digits" with labels), for the mnist experiment's smoke test."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _idx(path: Path, arr: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def fake_mnist(root: Path, n_train: int = 256, n_test: int = 96) -> Path:
    """IDX files of ``n_train`` / ``n_test`` 28 px images: a bright bar whose angle follows the label 0-9."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:28, 0:28] - 13.5
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        angles = labels * np.pi / 10 + rng.normal(0, 0.05, n)
        dist = np.abs(np.sin(angles)[:, None, None] * xx - np.cos(angles)[:, None, None] * yy)  # [n, 28, 28]
        images = np.where((dist < 2.0) & (np.hypot(xx, yy) < 11), 255, 0)
        _idx(root / f"{prefix}-images-idx3-ubyte", images)
        _idx(root / f"{prefix}-labels-idx1-ubyte", labels)
    return root
