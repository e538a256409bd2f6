"""Decode one untrusted image file into a clean RGB (or L) PIL image, or say exactly why not.

Every failure raises :class:`Rejected` with a short ``reason`` (one of :data:`REASONS`) and a
``detail``; callers count and list them and carry on. Rules:

- Only regular files are read (links followed), never blocking and at most :data:`MAX_FILE_BYTES`:
  a FIFO, device, socket or folder → ``not-a-file``; a bigger file → ``too-large``.
- zero-byte file → ``empty-file``; permission or I/O error → ``unreadable``; not an image format
  Pillow knows → ``not-an-image``; cut short → ``truncated``; otherwise undecodable → ``corrupt``.
- More than ``max_pixels`` pixels → ``too-large`` (decompression bombs are refused from the header,
  before any pixel is decoded).
- Animated images (GIF, APNG, WebP, multi-page TIFF): the **first frame** is used, always.
- EXIF orientation is applied. Transparency (RGBA, LA, P with a transparent colour) is composited on
  white. 16-bit and 32-bit integer images are reduced to 8 bits by scaling 0..65535 → 0..255 (``I``
  images whose values all fit in 0..255 are taken as 8-bit); float images in [0, 1] are scaled by 255,
  others clipped to 0..255. CMYK, YCbCr, LAB, HSV, 1-bit and palette images are converted to RGB.
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings
import zlib
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

REASONS = ("empty-file", "unreadable", "not-a-file", "bad-name", "unsafe", "not-an-image", "truncated", "corrupt",
           "too-large", "too-small", "no-face", "duplicate", "error")
"""Why an input was dropped (the ``reason`` column of ``rejects.csv``). ``not-a-file``: a FIFO, device,
socket or folder under an image name; ``bad-name``: a file name that is not valid UTF-8; ``unsafe``: an
archive member dropped for safety (``..`` or absolute path, link, device, FIFO)."""

MAX_FILE_BYTES = 512 * 2**20
"""Image files bigger than this are refused as ``too-large`` without reading them whole."""

DEFAULT_MAX_PIXELS = 100_000_000
"""Images with more pixels are refused as ``too-large`` (a 10,000 × 10,000 illustration still passes)."""


class Rejected(Exception):
    """An input that is skipped, with a reason from :data:`REASONS` and a human detail."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail

    def __reduce__(self):  # picklable with both fields (it travels to worker processes inside RawItems)
        return (Rejected, (self.reason, self.detail))


@contextlib.contextmanager
def pixel_limit(max_pixels: int) -> Iterator[None]:
    """Temporarily set Pillow's decompression-bomb limit, and turn its warning into an error."""
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = int(max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Corrupt EXIF data", palette transparency notes
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def read_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a regular file, or Rejected(``not-a-file``/``too-large``/``unreadable``/``empty-file``)."""
    from animegen.fsutil import ReadRefused, read_limited

    try:
        data = read_limited(path, MAX_FILE_BYTES)
    except ReadRefused as exc:
        raise Rejected(exc.reason, str(exc).replace(f"{path} ", "", 1)) from None
    except OSError as exc:
        raise Rejected("unreadable", f"{type(exc).__name__}: {exc.strerror or exc}") from None
    if not data:
        raise Rejected("empty-file", "0 bytes")
    return data


def open_image(data: bytes | np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS,
               draft: tuple[int, int] | None = None) -> tuple[Image.Image, float, list[str]]:
    """Decode ``data`` fully. Returns ``(image, scale, notes)``.

    ``draft``: for JPEGs, let the decoder shrink by a power of two while keeping both sides at least
    this big (much faster for large photos); ``scale`` is original pixels per returned pixel.
    Call inside :func:`pixel_limit`.
    """
    notes: list[str] = []
    if isinstance(data, np.ndarray):
        return Image.fromarray(data), 1.0, notes
    if len(data) == 0:
        raise Rejected("empty-file", "0 bytes")
    try:
        im: Image.Image = Image.open(io.BytesIO(data))  # exif_transpose() below gives a plain Image
    except UnidentifiedImageError:
        head = data[:16]
        raise Rejected("not-an-image", f"unknown format (starts with {head!r})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Rejected("too-large", str(exc).split(" could be")[0]) from None
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as exc:
        raise _classify(exc) from None
    w0, h0 = im.size
    if w0 * h0 > max_pixels:  # formats whose plugin skips Pillow's own check
        raise Rejected("too-large", f"{w0}x{h0} = {w0 * h0:,} pixels > {max_pixels:,}")
    try:
        animated = bool(getattr(im, "is_animated", False))
    except (OSError, EOFError, ValueError, SyntaxError):  # later frames broken: the first may still be fine
        animated = False
    if animated:
        notes.append("animated: first frame used")
        im.seek(0)
    try:
        if draft is not None and im.format == "JPEG":
            im.draft(im.mode, draft)
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Rejected("too-large", str(exc).split(" could be")[0]) from None
    except MemoryError:
        raise Rejected("too-large", f"out of memory decoding {w0}x{h0}") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, zlib.error) as exc:
        raise _classify(exc) from None
    scale = w0 / im.width if im.width else 1.0
    try:
        im = ImageOps.exif_transpose(im)
    except (OSError, ValueError, KeyError, TypeError, SyntaxError):  # a broken EXIF block: keep pixels as stored
        notes.append("EXIF orientation unreadable")
    return im, scale, notes


def _classify(exc: BaseException) -> Rejected:
    msg = str(exc) or type(exc).__name__
    low = msg.lower()
    if "truncat" in low or isinstance(exc, EOFError) or "premature end" in low or "buffer is not large enough" in low:
        return Rejected("truncated", msg)
    if "cannot identify" in low:
        return Rejected("not-an-image", msg)
    return Rejected("corrupt", f"{type(exc).__name__}: {msg}")


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode → 8-bit RGB (see the module doc for the rules)."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_to_uint8_gray(np.asarray(im), mode.startswith("I;16"))).convert("RGB")
    if mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
        mode = im.mode
    elif mode in ("PA", "LA", "La", "RGBa"):
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode == "RGBA":
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, im).convert("RGB")
    if mode == "RGB":
        return im
    return im.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def _to_uint8_gray(a: np.ndarray, sixteen_bit: bool) -> np.ndarray:
    if a.dtype.kind == "f":
        a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if a.size and float(a.max()) <= 1.0:
            a = a * 255.0
        return np.clip(np.round(a), 0, 255).astype(np.uint8)
    a = a.astype(np.int64)
    if sixteen_bit or (a.size and (a.max() > 255 or a.min() < 0)):
        a = np.clip(a, 0, 65535)
        return ((a * 255 + 32767) // 65535).astype(np.uint8)  # round(v / 257)
    return a.astype(np.uint8)


def to_mode(im: Image.Image, channels: int) -> Image.Image:
    """RGB for ``channels=3``, ITU-R 601-2 luma ``L`` for ``channels=1``."""
    rgb = to_rgb(im)
    return rgb.convert("L") if channels == 1 else rgb
