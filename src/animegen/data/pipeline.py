"""Per-image work of ``animegen prepare`` (decode → convert → crop → resize → hash), in a process pool.

:class:`Processor` turns one :class:`~animegen.data.readers.RawItem` into an :class:`ItemResult`: the
square crops it yields (0 or 1 with ``crop="none"``, one per face with ``crop="detect"``) or the reason
it was dropped. It never raises for bad input. :func:`process_items` runs it over a stream of items in
worker processes, in chunks, and yields the results **in input order**, so the output does not depend
on the number of workers.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import signal
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from animegen.cpus import usable_cores
from animegen.data.crop import Box, center_square, crop_square, face_square, letterbox
from animegen.data.decode import DEFAULT_MAX_PIXELS, Rejected, open_image, pixel_limit, read_bytes, to_mode
from animegen.data.dedup import DEFAULT_THRESHOLD, dhash
from animegen.data.readers import RawItem
from animegen.errors import AnimegenError, DataError


@dataclass
class PrepareOptions:
    """Everything that decides the content of a prepared dataset (stored in its manifest)."""

    size: int = 64
    crop: str = "none"
    """``none``: inputs are face crops (centre square); ``detect``: find faces in illustrations."""
    channels: int = 3
    min_side: int | None = None
    """``crop=none``: inputs whose shorter side is below this are ``too-small`` (default: size // 2)."""
    detector: str = "auto"
    cascade: str | None = None
    min_face: int | None = None
    """``crop=detect``: smallest face side in source pixels (default: size / (1 + 2 margin), no upscaling)."""
    min_confidence: float = 0.0
    max_faces: int = 0
    """``crop=detect``: keep at most this many faces per image, best first (0 = all)."""
    margin: float = 0.25
    """``crop=detect``: added on each side of the face box, as a fraction of its longer side."""
    dedup: bool = True
    dedup_threshold: int = DEFAULT_THRESHOLD
    val_fraction: float = 0.0
    seed: int = 0
    max_pixels: int = DEFAULT_MAX_PIXELS
    limit: int | None = None
    """Only the first N inputs (for previews and quick looks)."""

    def __post_init__(self) -> None:
        if self.size < 8 or self.size > 4096:
            raise AnimegenError(f"--size must be in 8..4096, got {self.size}")
        if self.crop not in ("none", "detect"):
            raise AnimegenError(f"--crop must be none or detect, got {self.crop!r}")
        if self.channels not in (1, 3):
            raise AnimegenError(f"--channels must be 1 or 3, got {self.channels}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise AnimegenError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if self.margin < 0 or self.margin > 2:
            raise AnimegenError(f"--margin must be in [0, 2], got {self.margin}")
        if not 0 <= self.dedup_threshold < 64:
            raise AnimegenError(f"--dedup-threshold must be in 0..63, got {self.dedup_threshold}")
        if self.max_faces < 0:
            raise AnimegenError(f"--max-faces must be >= 0, got {self.max_faces}")

    @property
    def effective_min_side(self) -> int:
        return self.min_side if self.min_side is not None else max(1, self.size // 2)

    @property
    def effective_min_face(self) -> int:
        if self.min_face is not None:
            return self.min_face
        return max(8, math.ceil(self.size / (1 + 2 * self.margin)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Crop:
    pixels: np.ndarray
    """uint8 ``[size, size, channels]``."""
    box: Box
    """The square taken from the source, in its pixels (after EXIF rotation); may reach outside."""
    face: tuple[int, int, int, int, float] | None = None
    """``(x, y, w, h, score)`` of the detected face (``crop=detect``)."""
    hash: int = 0


@dataclass
class ItemResult:
    name: str
    crops: list[Crop] = field(default_factory=list)
    reason: str | None = None
    detail: str = ""
    notes: list[str] = field(default_factory=list)
    labels: dict[str, int] | None = None
    thumb: np.ndarray | None = None
    """A small picture of a dropped input (only when previews are asked for)."""
    extra_faces: int = 0
    """Faces found beyond ``max_faces`` (not kept)."""


class Processor:
    """Decode → convert → crop → resize → hash one item. Build once per process (holds the detector)."""

    def __init__(self, opts: PrepareOptions, thumbs: bool = False):
        self.opts = opts
        self.thumbs = thumbs
        self._detector = None

    @property
    def detector(self):
        if self._detector is None:
            from animegen.data.detect import make_detector

            o = self.opts
            self._detector = make_detector(o.detector, cascade=o.cascade, min_size=o.effective_min_face,
                                           min_confidence=o.min_confidence)
        return self._detector

    def __call__(self, item: RawItem) -> ItemResult:
        with pixel_limit(self.opts.max_pixels):
            return self._process(item)

    def _process(self, item: RawItem) -> ItemResult:
        res = ItemResult(item.name, labels=item.labels)
        img = None
        try:
            payload = item.payload
            if isinstance(payload, Rejected):
                raise payload
            if isinstance(payload, str):
                payload = read_bytes(payload)
            o = self.opts
            draft = (2 * o.size, 2 * o.size) if o.crop == "none" else None
            img, scale, res.notes = open_image(payload, o.max_pixels, draft)
            img = to_mode(img, o.channels)
            res.crops = self._crop_none(img, scale) if o.crop == "none" else self._crop_detect(img, scale, res)
        except Rejected as r:
            res.reason, res.detail = r.reason, r.detail
        except MemoryError:
            res.reason, res.detail = "too-large", "out of memory"
        except AnimegenError:
            raise  # a setup problem (e.g. no detector installed), not bad input
        except Exception as exc:  # noqa: BLE001 - bad input must never stop the run; it is listed in rejects.csv
            res.reason, res.detail = "error", f"{type(exc).__name__}: {exc}"
        if res.reason and self.thumbs and img is not None:
            res.thumb = np.asarray(letterbox(img, self.opts.size))
        return res

    def _finish(self, crop: Image.Image) -> np.ndarray:
        from animegen.imaging import resize_pil

        a = np.asarray(resize_pil(crop, self.opts.size, "lanczos"))
        return a[..., None] if a.ndim == 2 else a

    def _crop_none(self, img: Image.Image, scale: float) -> list[Crop]:
        W, H = img.size
        need = self.opts.effective_min_side
        if min(W, H) * scale < need:
            raise Rejected("too-small", f"{round(W * scale)}x{round(H * scale)} < {need} px")
        box = center_square(W, H)
        pixels = self._finish(img.crop(box))
        return [Crop(pixels, _scaled(box, scale), None, dhash(pixels))]

    def _crop_detect(self, img: Image.Image, scale: float, res: ItemResult) -> list[Crop]:
        o = self.opts
        W, H = img.size
        rgb = img if img.mode == "RGB" else img.convert("RGB")
        faces = self.detector.detect(rgb)
        if not faces:
            raise Rejected("no-face", f"no face >= {o.effective_min_face} px"
                           + (f" with score >= {o.min_confidence}" if o.min_confidence > 0 else "") + f" in {W}x{H}")
        if o.max_faces and len(faces) > o.max_faces:
            res.extra_faces = len(faces) - o.max_faces
            faces = faces[: o.max_faces]
        out = []
        for f in faces:
            box = face_square(f.x, f.y, f.w, f.h, o.margin, W, H)
            pixels = self._finish(crop_square(img, box))
            out.append(Crop(pixels, _scaled(box, scale), (f.x, f.y, f.w, f.h, round(f.score, 4)), dhash(pixels)))
        return out


def _scaled(box: Box, scale: float) -> Box:
    """``box`` times ``scale``, rounded to whole pixels (a box of the decoded image in the source's pixels)."""
    x0, y0, x1, y1 = box
    return int(round(x0 * scale)), int(round(y0 * scale)), int(round(x1 * scale)), int(round(y1 * scale))


# ----------------------------------------------------------------------------- running in a pool

_WORKER: Processor | None = None


def _init_worker(opts: PrepareOptions, thumbs: bool) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    _WORKER = Processor(opts, thumbs)
    if opts.crop == "detect":
        _ = _WORKER.detector  # build it once per worker, before the first chunk
        if "cv2" in sys.modules:  # one OpenCV thread per worker: the workers already use every core
            sys.modules["cv2"].setNumThreads(1)


def _run_chunk(items: list[RawItem]) -> list[ItemResult]:
    assert _WORKER is not None
    return [_WORKER(it) for it in items]


def _chunks(items: Iterable[RawItem], size: int) -> Iterator[list[RawItem]]:
    buf: list[RawItem] = []
    for it in items:
        buf.append(it)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


def chunk_size(opts: PrepareOptions) -> int:
    """Items per task: detection is ~100× slower per image than decoding a face crop."""
    return 4 if opts.crop == "detect" else 64


def default_workers() -> int:
    return min(usable_cores(), 16)


def _mp_context():
    """forkserver where available: workers start from a clean, single-threaded server process.

    Plain fork would copy a parent that may have live thread pools (OpenCV, OpenMP, tqdm), and a child
    that touches them can deadlock. The server imports the worker's modules once (preload), so each
    worker starts in milliseconds after the first pool.
    """
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["animegen.data.pipeline", "animegen.imaging"])
        return ctx
    return mp.get_context("spawn")


def process_items(items: Iterable[RawItem], opts: PrepareOptions, workers: int = 0, thumbs: bool = False,
                  chunk: int | None = None) -> Iterator[ItemResult]:
    """Yield one :class:`ItemResult` per item, in input order. ``workers=0``: all cores; 1: in-process.

    Workers start from a forkserver (see :func:`_mp_context`), so a script that calls this must do so
    under ``if __name__ == "__main__":`` like any multiprocessing code (or pass ``workers=1``).
    """
    workers = workers or default_workers()
    chunk = chunk or chunk_size(opts)
    if mp.current_process().daemon:  # e.g. inside a DataLoader worker: daemons may not have children
        workers = 1
    if workers <= 1:
        proc = Processor(opts, thumbs)
        for it in items:
            yield proc(it)
        return
    if opts.crop == "detect":
        _ = Processor(opts).detector  # fail early and clearly if no backend is installed
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(), initializer=_init_worker,
                             initargs=(opts, thumbs))
    pending: deque = deque()
    try:
        for batch in _chunks(items, chunk):
            pending.append(ex.submit(_run_chunk, batch))
            while len(pending) > 2 * workers:  # bounded read-ahead: archives are not loaded whole
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    except BrokenProcessPool as exc:
        raise DataError("a worker process failed to start or died (out of memory, a crash inside a native image "
                        "library, or a script that calls prepare without `if __name__ == '__main__':`); "
                        "re-run with --workers 1 (workers=1) to find out") from exc
    finally:
        for f in pending:
            f.cancel()
        ex.shutdown(wait=True, cancel_futures=True)
