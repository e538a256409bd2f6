"""Face-detection pass rate: the share of images in which an anime-face detector finds a face.

Uses :func:`animegen.data.detect.make_detector` (``backend="auto"``: the bundled ``animeface``
model, else the OpenCV LBP cascade when a cascade XML path is given). Each uint8 ``[H, W, 3]`` image
is passed as a PIL image to ``detector.detect`` (a list of faces); it passes when the list is not
empty. Small whole-frame face crops are detected far more reliably with context around them, so
the detector is built as ``animegen.data.detect.face_pass_rate`` does: ``pad=0.25`` (an
edge-replicated border), ``upscale=1``, ``min_size = max(8, side // 4)``.

Report it next to the pass rate of real images of the same source: the real rate is the ceiling.
When no detector can be built the result says why (``{"available": False, "reason": ...}``) — never
an error.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from animegen.errors import AnimegenError

PAD = 0.25


def load_detector(backend: str = "auto", cascade: str | None = None, image_size: int = 64,
                  **kw) -> tuple[Callable[[np.ndarray], list] | None, str]:
    """(``detect(uint8 [H, W, C]) -> faces``, description) or (None, why it is unavailable)."""
    try:
        from animegen.data.detect import make_detector
    except ImportError as exc:
        return None, f"face detection unavailable: animegen.data.detect is missing ({exc})"
    opts = {"pad": PAD, "upscale": 1.0, "min_size": max(8, image_size // 4), **kw}
    try:
        det = make_detector(backend=backend, cascade=cascade, **opts)
    except ImportError as exc:
        return None, f"face detection unavailable: {exc} (pip install 'animegen[detect]')"
    except AnimegenError as exc:
        return None, f"face detection unavailable: {exc}"
    from PIL import Image

    def detect(im: np.ndarray) -> list:
        pil = Image.fromarray(np.ascontiguousarray(im[..., 0] if im.shape[-1] == 1 else im)).convert("RGB")
        return det.detect(pil)

    return detect, f"{getattr(det, 'name', type(det).__name__)} {det!r}"


def detection_rate(images: np.ndarray, detector: Callable[[np.ndarray], list] | None = None,
                   backend: str = "auto", cascade: str | None = None, max_n: int | None = 500) -> dict[str, Any]:
    """``{"available", "rate", "n", "detector"}`` for uint8 ``[N, H, W, C]`` images (the first ``max_n``)."""
    desc = "given detector"
    if detector is None:
        detector, desc = load_detector(backend, cascade, image_size=int(images.shape[1]))
        if detector is None:
            return {"available": False, "reason": desc}
    imgs = images[:max_n] if max_n else images
    hits = sum(int(len(detector(im) or []) > 0) for im in imgs)
    return {"available": True, "rate": hits / max(1, len(imgs)), "n": int(len(imgs)), "detector": desc}
