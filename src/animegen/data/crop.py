"""Crop geometry: a centred square, or a square around a detected face with a margin, clamped or
padded at the image borders.

Boxes are ``(x0, y0, x1, y1)`` in pixels, right/bottom exclusive; they may reach outside the image,
where :func:`crop_square` repeats the edge pixels.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]


def center_square(width: int, height: int) -> Box:
    """The largest centred square (what ``--crop none`` keeps)."""
    s = min(width, height)
    x0, y0 = (width - s) // 2, (height - s) // 2
    return (x0, y0, x0 + s, y0 + s)


def face_square(x: int, y: int, w: int, h: int, margin: float, width: int, height: int) -> Box:
    """A square around a face box, ``margin`` × the box's longer side added on each side.

    The square is centred on the face; when it sticks out of the image but fits inside it, it is
    shifted back in (the face then sits a little off-centre); when it is larger than the image it stays
    centred and the outside is padded by :func:`crop_square`.
    """
    side = max(1, int(round(max(w, h) * (1 + 2 * margin))))
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    if side <= width:
        x0 = min(max(x0, 0), width - side)
    if side <= height:
        y0 = min(max(y0, 0), height - side)
    return (x0, y0, x0 + side, y0 + side)


def crop_square(img: Image.Image, box: Box) -> Image.Image:
    """Crop ``box`` from ``img``; parts outside the image repeat the nearest edge pixels."""
    x0, y0, x1, y1 = box
    W, H = img.size
    if x0 >= 0 and y0 >= 0 and x1 <= W and y1 <= H:
        return img.crop(box)
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if ix1 <= ix0 or iy1 <= iy0:
        raise ValueError(f"crop box {box} lies outside the {W}x{H} image")
    a = np.asarray(img.crop((ix0, iy0, ix1, iy1)))
    pads = ((iy0 - y0, y1 - iy1), (ix0 - x0, x1 - ix1)) + (((0, 0),) if a.ndim == 3 else ())
    return Image.fromarray(np.pad(a, pads, mode="edge"))


def letterbox(img: Image.Image, size: int, fill: int = 255) -> Image.Image:
    """Fit the whole image inside ``size``×``size`` on a plain background (for previews)."""
    im = img.copy()
    im.thumbnail((size, size), Image.Resampling.BOX)
    if im.width < size // 4 or im.height < size // 4:  # tiny images: show them big and blocky
        f = max(1, size // max(im.size))
        im = im.resize((min(size, im.width * f), min(size, im.height * f)), Image.Resampling.NEAREST)
    bg = Image.new(im.mode, (size, size), fill if im.mode == "L" else (fill,) * len(im.mode))
    bg.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
    return bg
