"""Built-in procedural anime faces with known generating factors (``synth:N[:SEED[:correlate]]``).

Each image ``i`` of a set with seed ``K`` depends only on ``(K, i)``: its attributes come from
``SeedSequence([K, i])`` and its nuisance jitter (strand tips) from ``SeedSequence([K, i, 1])``, so image
``i`` is the same whatever N, worker count or chunking. Drawing is in :mod:`animegen.data.synth_draw`
(primitives in :mod:`~animegen.data.synth_paint`, constant shapes in :mod:`~animegen.data.synth_shapes`).

Attributes (``ATTRIBUTES``) are sampled independently by default; ``correlate=True`` couples some of them
(eye hue follows hair hue, blush follows the mouth, closed eyes smile, twin tails wear ribbons, darker
hair goes with darker skin) for entangled-data experiments.

    >>> images, labels = render_faces(16, size=64, seed=0)      # uint8 [16, 64, 64, 3], dict of arrays
    >>> ds = open_synthetic("20000:0", size=64)                  # ImageSet, cached in $ANIMEGEN_CACHE/synth
"""
from __future__ import annotations

import hashlib
import io
import multiprocessing as mp
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from animegen.cpus import usable_cores
from animegen.data import synth_draw as D
from animegen.errors import DataError

GENERATOR_VERSION = "1.1"
"""Bump whenever the pictures or the attribute sampling change (it is part of fingerprints and caches)."""

SUPPORTED_SIZES = (32, 64, 128, 256)
MIN_SIZE = 16


@dataclass(frozen=True)
class Attribute:
    name: str
    kind: str  # "categorical" or "continuous"
    values: tuple[str, ...] = ()  # categorical: the names of the integer codes
    weights: tuple[float, ...] = ()  # categorical: sampling probabilities (default uniform)
    low: float = 0.0  # continuous: range
    high: float = 1.0
    doc: str = ""

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "doc": self.doc}
        if self.kind == "categorical":
            d["values"] = list(self.values)
            d["probabilities"] = [round(w, 4) for w in self.weights]
        else:
            d["range"] = [self.low, self.high]
        return d


def _cat(name: str, values: Sequence[str], doc: str, weights: Sequence[float] = ()) -> Attribute:
    w = tuple(float(x) / sum(weights) for x in weights) if weights else tuple(1.0 / len(values) for _ in values)
    return Attribute(name, "categorical", tuple(values), w, doc=doc)


def _cont(name: str, low: float, high: float, doc: str) -> Attribute:
    return Attribute(name, "continuous", low=low, high=high, doc=doc)


ATTRIBUTES: tuple[Attribute, ...] = (
    _cont("hair_hue", 0.0, 1.0, "hair hue (HLS, cyclic)"),
    _cont("hair_lightness", 0.0, 1.0, "0 = near black, 1 = pale"),
    _cont("hair_saturation", 0.0, 1.0, "0 = grey/silver, 1 = vivid"),
    _cat("hair_style", D.HAIR_STYLES, "hair mass behind the head"),
    _cat("bangs", D.BANGS, "fringe over the forehead"),
    _cont("eye_hue", 0.0, 1.0, "iris hue (HLS, cyclic)"),
    _cont("eye_size", 0.0, 1.0, "eye scale 0.85x .. 1.25x"),
    _cat("eye_state", D.EYE_STATES, "wink closes the eye on the image's right", (0.7, 0.15, 0.15)),
    _cat("mouth", D.MOUTHS, "mouth shape"),
    _cont("blush", 0.0, 1.0, "cheek blush opacity (hatching above 0.6)"),
    _cont("skin_tone", 0.0, 1.0, "0 = pale, 1 = tan"),
    _cat("accessory", D.ACCESSORIES, "one accessory or none", (0.4, 0.2, 0.2, 0.2)),
    _cont("accessory_hue", 0.0, 1.0, "colour of glasses frame / ribbon / hairpin"),
    _cont("tilt", -15.0, 15.0, "head tilt in degrees, positive = clockwise"),
    _cont("face_scale", 0.9, 1.1, "face size relative to the default framing"),
    _cont("face_x", -0.05, 0.05, "horizontal face offset, fraction of the image width"),
    _cont("face_y", -0.05, 0.05, "vertical face offset, fraction of the image height"),
    _cat("bg_pattern", D.BG_PATTERNS, "background pattern", (0.4, 0.3, 0.15, 0.15)),
    _cont("bg_hue", 0.0, 1.0, "background hue"),
    _cont("bg_lightness", 0.0, 1.0, "background lightness"),
    _cat("clothes", D.CLOTHES, "collar / top"),
    _cont("clothes_hue", 0.0, 1.0, "clothes colour"),
)
ATTRIBUTE_NAMES = tuple(a.name for a in ATTRIBUTES)
ATTRIBUTE_BY_NAME = {a.name: a for a in ATTRIBUTES}
_CUM = {a.name: np.cumsum(a.weights)[:-1] for a in ATTRIBUTES if a.kind == "categorical"}


# ----------------------------------------------------------------------------- sampling


def _sample_one(seed: int, index: int, correlate: bool) -> dict[str, float | int]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    out: dict[str, float | int] = {}
    for at in ATTRIBUTES:  # fixed order and one draw each: correlate only adds draws after these
        if at.kind == "categorical":
            out[at.name] = int(np.searchsorted(_CUM[at.name], rng.random(), side="right"))
        else:
            out[at.name] = at.low + (at.high - at.low) * rng.random()
    if correlate:
        u = rng.random(4)
        if u[0] < 0.85:  # eye hue follows hair hue
            out["eye_hue"] = (out["hair_hue"] + rng.normal(0, 0.03)) % 1.0
        mouth = D.MOUTHS[int(out["mouth"])]
        out["blush"] = 0.55 + 0.45 * u[1] if mouth != "closed" else 0.35 * u[1]
        if D.EYE_STATES[int(out["eye_state"])] == "closed" and u[2] < 0.8:  # happy closed eyes smile
            out["mouth"] = D.MOUTHS.index("smile")
            out["blush"] = 0.55 + 0.45 * u[1]
        if D.HAIR_STYLES[int(out["hair_style"])] == "twintails" and u[3] < 0.7:
            out["accessory"] = D.ACCESSORIES.index("ribbon")
        out["skin_tone"] = np.clip(1.0 - out["hair_lightness"] + rng.normal(0, 0.12), 0.0, 1.0)
    for at in ATTRIBUTES:  # the picture is drawn from exactly the float32 values the labels hold
        if at.kind == "continuous":
            out[at.name] = float(np.float32(out[at.name]))
    return out


def sample_attributes(n: int, seed: int = 0, start: int = 0, correlate: bool = False) -> dict[str, np.ndarray]:
    """Attributes of images ``start .. start+n-1``: name → array [n] (int64 codes or float32)."""
    rows = [_sample_one(seed, i, correlate) for i in range(start, start + n)]
    return _columns(rows)


def _columns(rows: list[dict[str, float | int]]) -> dict[str, np.ndarray]:
    out = {}
    for at in ATTRIBUTES:
        dtype = np.int64 if at.kind == "categorical" else np.float32
        out[at.name] = np.array([r[at.name] for r in rows], dtype=dtype)
    return out


def attribute_row(labels: dict[str, np.ndarray], i: int) -> dict[str, float | int]:
    """One image's attributes as a plain dict (e.g. to edit one factor and re-render with render_face)."""
    return {k: (int(v[i]) if v.dtype.kind in "iu" else float(v[i])) for k, v in labels.items()}


# ----------------------------------------------------------------------------- rendering


def render_face(attrs: dict[str, float | int], size: int = 64, seed: int = 0, index: int = 0,
                debug: bool = False) -> Any:
    """Render one face from an attribute dict (names as in ``ATTRIBUTES``; categorical as int codes).

    Nuisance jitter comes from ``(seed, index)``, so editing one attribute of ``attribute_row(labels, i)``
    and re-rendering with the same seed/index changes only that factor. Returns uint8 ``[size, size, 3]``;
    with ``debug=True`` returns ``(image, info)`` where ``info["masks"]`` maps part names (``hair``,
    ``skin``, ``iris``, ``pupil``, ``eye_white``, ``lash``, ``mouth``, ``background``, ...) to visible
    coverage ``[size, size]`` in [0, 1] and ``info["points"]`` holds eye/mouth centres in pixels.
    """
    missing = [a.name for a in ATTRIBUTES if a.name not in attrs]
    if missing:
        raise DataError(f"render_face: missing attributes {missing}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, 1]))
    img, info = D.draw_face(attrs, size, rng, debug=debug)
    return (img, info) if debug else img


def png_name(i: int) -> str:
    return f"{i:06d}.png"


def _render_range(args: tuple) -> tuple[int, Any, dict[str, np.ndarray]]:
    """Worker: render images ``start .. stop-1`` → (start, uint8 [k, H, W, 3], labels); with ``folder``,
    write them there as PNG files instead and return how many."""
    seed, start, stop, size, correlate, folder = args
    imgs = np.empty((stop - start, size, size, 3), dtype=np.uint8) if folder is None else None
    rows = []
    for j, i in enumerate(range(start, stop)):
        a = _sample_one(seed, i, correlate)
        im = render_face(a, size, seed, i)
        if imgs is None:  # inside write_dataset's temporary folder, which is renamed only when complete
            with open(os.path.join(folder, png_name(i)), "wb") as fh:
                fh.write(_png_bytes(im))
        else:
            imgs[j] = im
        rows.append(a)
    return start, (stop - start if imgs is None else imgs), _columns(rows)


def _check_size(size: int) -> int:
    size = int(size)
    if size not in SUPPORTED_SIZES and size < MIN_SIZE:
        raise DataError(f"synthetic faces need size >= {MIN_SIZE} (got {size}); try 32, 64 or 128")
    return size


def default_workers() -> int:
    return usable_cores()


def iter_faces(n: int, size: int = 64, seed: int = 0, start: int = 0, correlate: bool = False,
               workers: int | None = None, chunk: int | None = None, folder: str | os.PathLike | None = None
               ) -> Iterator[tuple[int, Any, dict[str, np.ndarray]]]:
    """Yield ``(first_index, images, labels)`` chunks in index order, rendered by ``workers`` processes
    (default: all usable cores; 1 = in this process). ``images`` is uint8 ``[k, H, W, 3]``, or with
    with ``folder`` the number of images the workers wrote there as ``png_name(i)`` files."""
    size = _check_size(size)
    if n < 1:
        raise DataError(f"need at least one image (got n={n})")
    workers = default_workers() if workers is None else max(1, int(workers))
    if mp.current_process().daemon:  # e.g. inside a DataLoader worker: daemons cannot start a pool
        workers = 1
    workers = min(workers, max(1, n // 32))  # a pool is not worth it for a handful of images
    chunk = chunk or int(np.clip(n // (workers * 8), 16, 256))
    folder = None if folder is None else str(folder)
    jobs = [(int(seed), s, min(s + chunk, start + n), size, bool(correlate), folder)
            for s in range(start, start + n, chunk)]
    if workers == 1:
        for job in jobs:
            yield _render_range(job)
        return
    # fork (as torch DataLoader does on Linux): instant start, and works whatever __main__ is (stdin, notebooks)
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers) as pool:
        yield from pool.imap(_render_range, jobs)


def render_faces(n: int, size: int = 64, seed: int = 0, start: int = 0, correlate: bool = False,
                 workers: int | None = None, progress: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Render images ``start .. start+n-1`` → (uint8 ``[n, size, size, 3]``, labels name → array ``[n]``)."""
    size = _check_size(size)
    if n < 1:
        raise DataError(f"need at least one image (got n={n})")
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    parts: list[dict[str, np.ndarray]] = []
    bar = None
    if progress:
        from animegen.progress import progress as _progress

        bar = _progress(total=n, desc="rendering faces", unit="img")
    try:
        for first, imgs, labels in iter_faces(n, size, seed, start, correlate, workers):
            images[first - start: first - start + len(imgs)] = imgs
            parts.append(labels)
            if bar is not None:
                bar.update(len(imgs))
    finally:
        if bar is not None:
            bar.close()
    labels = {k: np.concatenate([p[k] for p in parts]) for k in ATTRIBUTE_NAMES}
    return images, labels


# ----------------------------------------------------------------------------- in-memory source (synth:...)


def parse_spec(rest: str) -> tuple[int, int, bool]:
    """``"N"``, ``"N:SEED"`` or ``"N:SEED:correlate"`` → (n, seed, correlate)."""
    parts = [p.strip() for p in str(rest).split(":")] if str(rest).strip() else []
    usage = "use synth:N, synth:N:SEED or synth:N:SEED:correlate (e.g. synth:20000:0)"
    if not parts or len(parts) > 3:
        raise DataError(f"bad synthetic source 'synth:{rest}': {usage}")
    try:
        n = int(parts[0])
        seed = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    except ValueError:
        raise DataError(f"bad synthetic source 'synth:{rest}': N and SEED must be integers; {usage}") from None
    if n < 1:
        raise DataError(f"bad synthetic source 'synth:{rest}': N must be >= 1")
    if seed < 0:
        raise DataError(f"bad synthetic source 'synth:{rest}': SEED must be >= 0")
    correlate = False
    if len(parts) == 3:
        if parts[2].lower() not in ("correlate", "correlated", "corr"):
            raise DataError(f"bad synthetic source 'synth:{rest}': the third part can only be 'correlate'")
        correlate = True
    return n, seed, correlate


def fingerprint(n: int, size: int, seed: int, correlate: bool) -> str:
    key = f"synth|{GENERATOR_VERSION}|{n}|{size}|{seed}|{int(bool(correlate))}"
    return "synth-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def cache_dir() -> Path:
    return Path(os.environ.get("ANIMEGEN_CACHE", "~/.cache/animegen")).expanduser() / "synth"


CACHE_MIN_IMAGES = 2000
"""Sets smaller than this are rendered on the fly (faster than reading a cache file)."""


def _load_cached(path: Path, n: int, size: int) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    img_path, lab_path = path.with_suffix(".images.npy"), path.with_suffix(".labels.npz")
    if not (img_path.is_file() and lab_path.is_file()):
        return None
    try:
        images = np.load(img_path, mmap_mode="c")  # copy-on-write map: opens instantly, still writable
        with np.load(lab_path) as z:
            labels = {k: z[k] for k in ATTRIBUTE_NAMES}
    except (OSError, ValueError, KeyError):
        return None  # unreadable or from an older layout: render again
    if images.shape != (n, size, size, 3) or any(len(v) != n for v in labels.values()):
        return None
    return images, labels


def _save_cached(path: Path, images: np.ndarray, labels: dict[str, np.ndarray]) -> None:
    from animegen.fsutil import atomic_path

    try:
        with atomic_path(path.with_suffix(".labels.npz")) as tmp:
            with open(tmp, "wb") as fh:
                arrays: dict[str, Any] = dict(labels)  # numpy's stub reads **kwargs as allow_pickle
                np.savez(fh, **arrays)
        with atomic_path(path.with_suffix(".images.npy")) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, images)
    except OSError:  # a read-only or full cache disk only costs speed
        pass


def open_synthetic(rest: str, size: int = 64, workers: int | None = None, use_cache: bool | None = None):
    """The ``synth:`` data source: ``rest`` is ``"N"``, ``"N:SEED"`` or ``"N:SEED:correlate"``."""
    from animegen.data.imageset import ImageSet

    n, seed, correlate = parse_spec(rest)
    size = _check_size(size)
    fp = fingerprint(n, size, seed, correlate)
    use_cache = n >= CACHE_MIN_IMAGES if use_cache is None else use_cache
    cached = _load_cached(cache_dir() / fp, n, size) if use_cache else None
    if cached is not None:
        images, labels = cached
    else:
        from animegen.progress import info

        if n >= CACHE_MIN_IMAGES:
            info(f"rendering {n} synthetic faces at {size} px" + (f" (cached in {cache_dir()})" if use_cache else ""))
        images, labels = render_faces(n, size, seed, 0, correlate, workers, progress=True)
        if use_cache:
            _save_cached(cache_dir() / fp, images, labels)
    name = f"synth:{n}:{seed}" + (":correlate" if correlate else "")
    meta = {"generator_version": GENERATOR_VERSION, "seed": seed, "correlate": correlate, "size": size,
            "attributes": [a.to_json() for a in ATTRIBUTES]}
    return ImageSet(images, name, fp, labels, None, meta)


# ----------------------------------------------------------------------------- pictures


def _png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=3)  # as small as 6 here, and faster
    return buf.getvalue()


def grid(n: int = 64, size: int = 64, seed: int = 0, correlate: bool = False, nrow: int | None = None,
         padding: int = 2, workers: int | None = None) -> np.ndarray:
    """A uint8 ``[H, W, 3]`` contact sheet of faces ``0 .. n-1`` (white gutters)."""
    from animegen.imaging import make_grid

    images, _ = render_faces(n, size, seed, 0, correlate, workers)
    return make_grid(images, nrow=nrow or int(np.ceil(np.sqrt(n))), padding=padding)
