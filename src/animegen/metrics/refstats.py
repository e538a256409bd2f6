"""Reference statistics of a real dataset, cached by content.

The real side of FID/KID/precision-recall does not change between evaluations, and extracting it is
the slow part on a CPU (~15 images/s). :func:`reference_features` computes it once per

    (dataset fingerprint, split, N, subset seed, weights sha1, resize protocol, precision)

and stores it as ``$ANIMEGEN_CACHE/fid-ref/<key>.npz`` (default ``~/.cache/animegen/fid-ref``):
``pool`` float32 ``[N, 2048]`` (KID and precision/recall need the features themselves), ``mu``
float64 ``[2048]``, ``sigma`` float64 ``[2048, 2048]`` and ``meta`` (a JSON string). Written with
``np.savez`` through an atomic temporary file, read with ``allow_pickle=False``: no pickles.

Which images: with ``n`` smaller than the split, the first ``n`` of a permutation by
``numpy.random.default_rng(seed)``; otherwise all, in dataset order.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from animegen.data.splits import SPLITS, heldout_halves
from animegen.errors import DataError
from animegen.fsutil import atomic_path
from animegen.metrics.fid import feature_statistics
from animegen.metrics.inception import RESIZE_ID, InceptionFeatures

CACHE_VERSION = 1


def cache_dir() -> Path:
    root = os.environ.get("ANIMEGEN_CACHE") or str(Path.home() / ".cache" / "animegen")
    return Path(root).expanduser() / "fid-ref"


@dataclass
class Reference:
    """Real-image features and their FID statistics."""

    pool: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    meta: dict
    path: Path | None = None
    cached: bool = False
    """True when read from the cache rather than computed now."""

    @property
    def n(self) -> int:
        return int(self.pool.shape[0])


def select(n_total: int, n: int | None, seed: int = 0) -> np.ndarray:
    """Indices of the reference subset (see module doc)."""
    if n is None or n >= n_total:
        return np.arange(n_total)
    if n < 2:
        raise DataError(f"need at least 2 reference images, asked for {n}")
    return np.random.default_rng(seed).permutation(n_total)[:n]


def split_images(ds, split: str = "all", val_fraction: float = 0.05, seed: int = 0) -> tuple[np.ndarray, str]:
    """The images of ``split`` (all, train, val, valid or test) of an ImageSet, and how it was split.

    The same split as the trainer's (``animegen.train.data.split_indices``): the dataset's own
    ``val_mask`` when it has one, else a ``numpy.random.default_rng(seed)`` permutation whose first
    ``round(N · val_fraction)`` images (at least 1) are held out. Pass the run's ``data.val_fraction``
    and ``data.seed`` to evaluate on exactly the images it did not train on. ``valid`` and ``test`` are
    the two halves of ``val`` (:func:`animegen.data.splits.heldout_halves`): choose on ``valid``, report
    on ``test``.
    """
    if split == "all":
        return ds.images, "all images"
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    n = len(ds)
    if ds.val_mask is not None and np.asarray(ds.val_mask, bool).any():
        mask = np.asarray(ds.val_mask, bool)
        how = "the dataset's own validation split"
    else:
        n_val = min(max(1, int(round(n * float(val_fraction)))), max(n - 1, 1))
        mask = np.zeros(n, bool)
        mask[np.random.default_rng(seed).permutation(n)[:n_val]] = True
        how = f"held out {n_val} of {n} (val_fraction {val_fraction}, split seed {seed}, as the trainer)"
    if split in ("valid", "test"):
        valid, test = heldout_halves(np.flatnonzero(mask), seed)
        idx = valid if split == "valid" else test
        chosen = ds.images[idx]
        how = f"{'validation' if split == 'valid' else 'test'} half ({len(idx)}) of {how}"
    else:
        chosen = ds.images[mask] if split == "val" else ds.images[~mask]
    if len(chosen) < 2:
        raise DataError(f"the {split} split of {ds.name} has {len(chosen)} images; need at least 2 "
                        "(use --real-split all, or a dataset with a larger validation split)")
    return chosen, f"{split}: {how}"


def split_key(split: str, val_fraction: float = 0.05, split_seed: int = 0) -> str:
    """The split's part of the cache key (a held-out split depends on its fraction and seed)."""
    return split if split == "all" else f"{split}-f{val_fraction:g}-s{split_seed}"


def cache_key(fingerprint: str, split: str, n: int, seed: int, weights_sha1: str, precision: str = "fp32") -> str:
    raw = f"v{CACHE_VERSION}|{fingerprint}|{split}|{n}|{seed}|{weights_sha1}|{RESIZE_ID}|{precision}"
    short = hashlib.sha1(raw.encode()).hexdigest()[:16]
    safe_fp = "".join(c if c.isalnum() or c in "-_." else "-" for c in fingerprint)[:40]
    return f"{safe_fp}-{split}-n{n}-{short}"


def load_cached(path: Path) -> Reference | None:
    """A cached reference, or None when absent/unreadable (a broken file is recomputed, not trusted)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            ref = Reference(z["pool"], z["mu"], z["sigma"], meta, path, cached=True)
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None
    if ref.pool.ndim != 2 or ref.mu.shape != (ref.pool.shape[1],) or meta.get("cache_version") != CACHE_VERSION:
        return None
    return ref


def save(ref: Reference, path: Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:  # a file object: np.savez would otherwise append ".npz" to the name
            np.savez(fh, pool=ref.pool.astype(np.float32), mu=ref.mu, sigma=ref.sigma,
                     meta=np.array(json.dumps(ref.meta)))


def reference_features(images: np.ndarray, fingerprint: str, extractor: InceptionFeatures, split: str = "all",
                       n: int | None = None, seed: int = 0, use_cache: bool = True, name: str = "") -> Reference:
    """Features + statistics of (a subset of) real ``images``, from the cache when possible."""
    idx = select(len(images), n, seed)
    key = cache_key(fingerprint, split, len(idx), seed, extractor.info.sha1, extractor.precision)
    path = cache_dir() / f"{key}.npz"
    if use_cache:
        hit = load_cached(path)
        if hit is not None:
            return hit
    t0 = time.perf_counter()
    feats = extractor.extract(images[idx], logits=False, desc=f"real features ({name or fingerprint[:12]})")
    mu, sigma = feature_statistics(feats.pool)
    meta = {
        "cache_version": CACHE_VERSION,
        "dataset": name,
        "fingerprint": fingerprint,
        "split": split,
        "n": int(len(idx)),
        "n_available": int(len(images)),
        "subset_seed": seed,
        "weights_sha1": extractor.info.sha1,
        "resize": RESIZE_ID,
        "precision": extractor.precision,
        "image_shape": list(images.shape[1:]),
        "seconds": round(time.perf_counter() - t0, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    ref = Reference(feats.pool, mu, sigma, meta, path, cached=False)
    if use_cache:
        try:
            save(ref, path)
        except OSError:  # a read-only cache is no reason to fail the evaluation
            ref.path = None
    return ref
