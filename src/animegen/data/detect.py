"""Anime face detection behind one interface: ``make_detector(...).detect(pil_image) -> list[Face]``.

Backends
--------
``animeface``  PyPI ``animeface`` 2.0.3 (bundled libnvxs model, Apache-2.0). Needs Pillow <= 11.3: on
               Pillow >= 12 it silently finds nothing, so it counts as unavailable there. Its model
               finds faces of about 43 to 170 px; run on an image pyramid, any face of 43 px and up is
               found. ``score`` is its likelihood in [0, 1].
``cascade``    An OpenCV cascade XML given by path (e.g. the classic ``lbpcascade_animeface.xml``);
               needs ``opencv-python-headless<5``. ``score`` is ``n / (n + min_neighbors)`` for a box
               backed by ``n`` neighbouring detections, in (0.5, 1).
``auto``       animeface when usable, else the cascade when a path is given, else an error that says
               what to install.

Scores are comparable within one backend only. Small images (e.g. 64 px generated faces, whose face
fills the frame) are found far more often with some context around them: pass ``pad=0.25`` (an
edge-replicated border of a quarter of the side on each side) and keep ``upscale=1``; that is what
:func:`face_pass_rate` does.

    >>> det = make_detector("auto", cascade="lbpcascade_animeface.xml", min_size=40)
    >>> faces = det.detect(Image.open("illustration.png").convert("RGB"))
    >>> [(f.x, f.y, f.w, f.h, round(f.score, 2)) for f in faces]
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from animegen.errors import AnimegenError, MissingDependencyError

BACKENDS = ("auto", "animeface", "cascade")
INSTALL = "pip install 'animegen[detect]'  (animeface==2.0.3 with pillow<=11.3, opencv-python-headless<5)"


def _last_line(exc: BaseException) -> str:
    """The last line of an exception's message, or its type name when the message is empty."""
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


@dataclass(frozen=True)
class Face:
    """A face box in the pixel coordinates of the image given to ``detect`` (top-left ``x, y``)."""

    x: int
    y: int
    w: int
    h: int
    score: float

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)``, exclusive right/bottom."""
        return (self.x, self.y, self.x + self.w, self.y + self.h)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)

    def iou(self, other: Face | tuple[int, int, int, int]) -> float:
        """Intersection over union with another face or an ``(x, y, w, h)`` box."""
        ox, oy, ow, oh = (other.x, other.y, other.w, other.h) if isinstance(other, Face) else other
        ix = max(0, min(self.x + self.w, ox + ow) - max(self.x, ox))
        iy = max(0, min(self.y + self.h, oy + oh) - max(self.y, oy))
        inter = ix * iy
        union = self.w * self.h + ow * oh - inter
        return inter / union if union > 0 else 0.0


def nms(faces: list[Face], iou: float = 0.4) -> list[Face]:
    """Greedy non-maximum suppression: highest score first, drop boxes overlapping a kept one."""
    kept: list[Face] = []
    for f in sorted(faces, key=lambda f: (-f.score, f.y, f.x)):
        if all(f.iou(k) <= iou for k in kept):
            kept.append(f)
    return kept


class Detector:
    """Common pre/post-processing; a backend implements :meth:`_detect` on a prepared RGB image.

    ``min_size``: smallest face side kept, in pixels of the input image. ``min_confidence``: smallest
    score kept. ``upscale``: resize factor applied before detecting (> 1 helps faces near the
    backend's minimum size). ``pad``: context border added on each side, as a fraction of the longer
    side (edge pixels repeated). ``max_side``: large images are shrunk so their longer side (after
    padding and upscaling) is at most this, for speed; boxes are mapped back.
    """

    name = "base"

    def __init__(self, min_size: int = 24, min_confidence: float = 0.0, upscale: float = 1.0, pad: float = 0.0,
                 max_side: int | None = 1600):
        if upscale <= 0:
            raise AnimegenError(f"upscale must be > 0, got {upscale}")
        if pad < 0:
            raise AnimegenError(f"pad must be >= 0, got {pad}")
        self.min_size = int(min_size)
        self.min_confidence = float(min_confidence)
        self.upscale = float(upscale)
        self.pad = float(pad)
        self.max_side = max_side

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(min_size={self.min_size}, min_confidence={self.min_confidence}, "
                f"upscale={self.upscale}, pad={self.pad})")

    def detect(self, img: Image.Image) -> list[Face]:
        """Faces in ``img`` (any mode; converted to RGB), best score first, boxes clipped to the image."""
        if img.mode != "RGB":
            img = img.convert("RGB")
        W, H = img.size
        p = int(round(self.pad * max(W, H)))
        work = img
        if p > 0:
            work = Image.fromarray(np.pad(np.asarray(img), ((p, p), (p, p), (0, 0)), mode="edge"))
        scale = self.upscale
        if self.max_side and max(work.size) * scale > self.max_side:
            scale = self.max_side / max(work.size)
        if scale != 1.0:
            size = (max(1, round(work.width * scale)), max(1, round(work.height * scale)))
            work = work.resize(size, Image.Resampling.LANCZOS if scale > 1 else Image.Resampling.BOX)
        sx, sy = work.width / (W + 2 * p), work.height / (H + 2 * p)
        faces = []
        for f in self._detect(work, max(1, int(self.min_size * min(sx, sy)))):
            x0 = max(0, int(round(f.x / sx)) - p)
            y0 = max(0, int(round(f.y / sy)) - p)
            x1 = min(W, int(round((f.x + f.w) / sx)) - p)
            y1 = min(H, int(round((f.y + f.h) / sy)) - p)
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            if max(x1 - x0, y1 - y0) < self.min_size or f.score < self.min_confidence:
                continue
            faces.append(Face(x0, y0, x1 - x0, y1 - y0, float(f.score)))
        return nms(faces)

    def _detect(self, img: Image.Image, min_size: int) -> list[Face]:  # pragma: no cover - abstract
        raise NotImplementedError


class AnimefaceDetector(Detector):
    """The ``animeface`` package (libnvxs model bundled in the wheel).

    Its model only finds faces of roughly 43 to 170 px, so it runs on an image pyramid (halving until
    the shorter side drops below :attr:`PYRAMID_MIN` px) and merges the boxes: big faces in big
    illustrations are found too, for a fraction more than the cost of one pass.
    """

    name = "animeface"
    PYRAMID_MIN = 64

    def __init__(self, pyramid: bool = True, **kw):
        super().__init__(**kw)
        self._af = _import_animeface()
        self.pyramid = pyramid

    def _detect(self, img: Image.Image, min_size: int) -> list[Face]:
        out = []
        level, scale = img, 1.0
        while True:
            for r in self._af.detect(level):
                b = r.face.pos
                x, y, w, h = (int(round(v / scale)) for v in (b.x, b.y, b.width, b.height))
                if max(w, h) >= min_size:
                    out.append(Face(x, y, w, h, float(r.likelihood)))
            if not self.pyramid or min(level.size) // 2 < self.PYRAMID_MIN:
                break
            level = level.reduce(2)
            scale /= 2
        return out


class CascadeDetector(Detector):
    """An OpenCV cascade classifier (``cv2.CascadeClassifier``) on the histogram-equalised gray image."""

    name = "cascade"

    def __init__(self, cascade: str | os.PathLike, scale_factor: float = 1.1, min_neighbors: int = 5, **kw):
        super().__init__(**kw)
        self.cv2 = _import_cv2()
        path = Path(cascade).expanduser()
        if not path.is_file():
            raise AnimegenError(f"cascade file not found: {path} (pass --cascade PATH to an OpenCV cascade XML, "
                                "e.g. lbpcascade_animeface.xml)")
        self.path = path
        try:
            self.clf = self.cv2.CascadeClassifier(str(path))
        except (self.cv2.error, SystemError) as exc:  # OpenCV throws on malformed XML
            raise AnimegenError(f"{path} is not an OpenCV cascade XML that cv2.CascadeClassifier can load "
                                f"({_last_line(exc)})") from None
        if self.clf.empty():
            raise AnimegenError(f"{path} is not an OpenCV cascade XML that cv2.CascadeClassifier can load")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors

    def _detect(self, img: Image.Image, min_size: int) -> list[Face]:
        cv2 = self.cv2
        gray = cv2.equalizeHist(cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2GRAY))
        m = max(min_size, 24)
        rects, counts = self.clf.detectMultiScale2(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(m, m)
        )
        k = self.min_neighbors
        return [
            Face(int(x), int(y), int(w), int(h), float(n) / (float(n) + k))
            for (x, y, w, h), n in zip(np.asarray(rects).reshape(-1, 4), np.asarray(counts).reshape(-1), strict=False)
        ]


def _import_animeface():
    import PIL

    major = int(PIL.__version__.split(".")[0])
    if major >= 12:
        raise MissingDependencyError(
            f"the animeface detector (it finds nothing on Pillow {PIL.__version__})", "pip install 'pillow<=11.3'"
        )
    try:
        import animeface
    except ImportError as exc:
        raise MissingDependencyError("the animeface detector", "pip install animeface==2.0.3 'pillow<=11.3'") from exc
    return animeface


def _import_cv2():
    try:
        import cv2
    except ImportError as exc:
        raise MissingDependencyError("the cascade detector", "pip install 'opencv-python-headless<5'") from exc
    if not hasattr(cv2, "CascadeClassifier"):
        raise MissingDependencyError(
            f"the cascade detector (OpenCV {cv2.__version__} has no CascadeClassifier)",
            "pip install 'opencv-python-headless<5'",
        )
    return cv2


def available_backends() -> dict[str, str]:
    """``{backend: "ok" or why not}`` for the two real backends (the cascade also needs an XML path)."""
    out = {}
    for name, fn in (("animeface", _import_animeface), ("cascade", _import_cv2)):
        try:
            fn()
            out[name] = "ok"
        except MissingDependencyError as exc:
            out[name] = str(exc)
    return out


def make_detector(
    backend: str = "auto",
    cascade: str | os.PathLike | None = None,
    min_size: int = 24,
    min_confidence: float = 0.0,
    upscale: float = 1.0,
    pad: float = 0.0,
    max_side: int | None = 1600,
) -> Detector:
    """Build a face detector (see the module doc for backends and options)."""
    kw: dict[str, Any] = dict(min_size=min_size, min_confidence=min_confidence, upscale=upscale, pad=pad,
                              max_side=max_side)
    if backend == "animeface":
        return AnimefaceDetector(**kw)
    if backend == "cascade":
        if cascade is None:
            raise AnimegenError(
                "the cascade detector needs a cascade XML: pass --cascade PATH (e.g. lbpcascade_animeface.xml)"
            )
        return CascadeDetector(cascade, **kw)
    if backend != "auto":
        raise AnimegenError(f"unknown detector backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    try:
        return AnimefaceDetector(**kw)
    except MissingDependencyError as af_err:
        if cascade is not None:
            return CascadeDetector(cascade, **kw)
        raise MissingDependencyError(
            f"face detection (animeface unusable: {af_err}; no --cascade PATH given)", INSTALL
        ) from af_err


def face_pass_rate(images: np.ndarray, detector: Detector | None = None) -> float:
    """Share of uint8 ``[N, H, W, C]`` images (e.g. generated 64 px faces) in which a face is found.

    The default detector is ``make_detector("auto", pad=0.25)``, tuned for whole-frame face crops.
    """
    if detector is None:
        detector = make_detector("auto", pad=0.25, min_size=max(8, images.shape[1] // 4))
    if len(images) == 0:
        return float("nan")
    hits = 0
    for im in images:
        pil = Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im).convert("RGB")
        hits += bool(detector.detect(pil))
    return hits / len(images)
