"""Upload checks for the studio: where the file is, how big, what type, how many pixels, then the same
defensive decoding as ``animegen prepare`` (:mod:`animegen.data.decode`).

    face = read_upload(path, roots=[upload_dir])      # uint8 [1, S, S, 3], centre-cropped to a square

Every refusal is an :class:`UploadError` with one line that says what was wrong; nothing is decoded before the
file's place, size and type have been checked, and a decompression bomb is refused from its header.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from animegen.errors import AnimegenError

MAX_UPLOAD_BYTES = 8 * 2**20
"""Largest upload read (8 MiB; the web server refuses bigger bodies as well)."""
MAX_UPLOAD_PIXELS = 4096 * 4096
"""Images with more pixels are refused from their header, before decoding."""
MIN_SIDE = 8
FORMATS = {"PNG": b"\x89PNG\r\n\x1a\n", "JPEG": b"\xff\xd8\xff", "GIF": (b"GIF87a", b"GIF89a"), "BMP": b"BM"}
"""Accepted image types by their leading bytes (WebP is checked separately: RIFF....WEBP)."""
ACCEPT = [".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"]
"""File-name suffixes offered in the browser's file picker (the server still checks the bytes)."""


class UploadError(AnimegenError):
    """An upload the studio will not use, with the reason in one line."""


def sniff(head: bytes) -> str | None:
    """The image type named by a file's first bytes, or None for anything else."""
    for name, magic in FORMATS.items():
        if head.startswith(magic if isinstance(magic, tuple) else (magic,)):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def inside(path: Path, roots: Iterable[str | os.PathLike]) -> bool:
    """True when ``path`` (links resolved) lies inside one of ``roots`` (links resolved)."""
    real = Path(os.path.realpath(path))
    for root in roots:
        r = Path(os.path.realpath(root))
        if real == r or r in real.parents:
            return True
    return False


def read_upload_bytes(path: str | os.PathLike, roots: Iterable[str | os.PathLike] | None,
                      max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """The bytes of an uploaded file: inside ``roots`` (the web server's upload folder; None skips the check),
    a regular file, 1..``max_bytes`` bytes."""
    from animegen.fsutil import ReadRefused, read_limited

    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise UploadError("no file uploaded")
    p = Path(path)
    if roots is not None and not inside(p, roots):
        raise UploadError("upload refused: the file is not in the upload folder")
    try:
        data = read_limited(p, max_bytes)
    except ReadRefused as exc:
        if exc.reason == "too-large":
            raise UploadError(f"upload refused: larger than {max_bytes // 2**20} MiB") from None
        raise UploadError("upload refused: not a regular file") from None
    except OSError as exc:
        raise UploadError(f"upload unreadable ({exc.strerror or type(exc).__name__})") from None
    if not data:
        raise UploadError("upload refused: the file is empty")
    return data


def decode_upload(data: bytes, max_pixels: int = MAX_UPLOAD_PIXELS) -> np.ndarray:
    """Image bytes → uint8 ``[1, S, S, 3]`` RGB, centre-cropped to a square (first frame of an animation,
    EXIF orientation applied, transparency on white: the rules of :mod:`animegen.data.decode`)."""
    from animegen.data.crop import center_square, crop_square
    from animegen.data.decode import Rejected, open_image, pixel_limit, to_rgb

    kind = sniff(data[:16])
    if kind is None:
        raise UploadError(f"upload refused: not an image (accepted: {', '.join([*FORMATS, 'WEBP'])})")
    try:
        with pixel_limit(max_pixels):
            im, _, _ = open_image(data, max_pixels=max_pixels)
            im = to_rgb(im)
    except Rejected as exc:
        if exc.reason == "too-large":
            raise UploadError(f"upload refused: too many pixels ({exc.detail}; at most {max_pixels:,})") from None
        raise UploadError(f"upload refused: {exc.reason} {kind} ({exc.detail[:120]})") from None
    if min(im.size) < MIN_SIDE:
        raise UploadError(f"upload refused: {im.width}x{im.height} is too small (at least {MIN_SIDE} px a side)")
    if im.width != im.height:
        im = crop_square(im, center_square(im.width, im.height))
    return np.asarray(im, dtype=np.uint8)[None]  # [1, S, S, 3]


def read_upload(path: str | os.PathLike, roots: Iterable[str | os.PathLike] | None,
                max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS) -> np.ndarray:
    """:func:`read_upload_bytes` then :func:`decode_upload`."""
    return decode_upload(read_upload_bytes(path, roots, max_bytes), max_pixels)
