"""Image helpers without torchvision: tensor↔uint8, grids with labels, PNG/GIF/MP4, antialiased resize.

Arrays are ``uint8 [N, H, W, C]`` (C = 1 or 3); tensors are ``float [N, C, H, W]`` in ``[-1, 1]``.
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from animegen.errors import AnimegenError, require
from animegen.fsutil import atomic_path, atomic_write_bytes

if TYPE_CHECKING:  # torch is imported where tensors are handled: data-only commands start faster
    import torch

# ----------------------------------------------------------------------------- conversions


def to_uint8(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """``[N, C, H, W]`` float in [-1, 1] (or a uint8 ``[N, H, W, C]`` array) → uint8 ``[N, H, W, C]``."""
    if isinstance(x, np.ndarray):
        if x.dtype != np.uint8:
            raise TypeError(f"expected a uint8 array, got {x.dtype}")
        return x[None] if x.ndim == 3 else x
    import torch

    if x.dim() == 3:
        x = x[None]
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # [N, C, H, W]
    return x.permute(0, 2, 3, 1).contiguous().numpy()  # [N, H, W, C]


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, H, W, C]`` → float ``[N, C, H, W]`` in [-1, 1]."""
    import torch

    if images.ndim == 3:
        images = images[None]
    arr = np.ascontiguousarray(images)
    if not arr.flags.writeable:  # memory-mapped datasets are read-only; torch wants writable memory
        arr = arr.copy()
    t = torch.from_numpy(arr).permute(0, 3, 1, 2).float()  # [N, C, H, W]
    return t / 127.5 - 1.0


# ----------------------------------------------------------------------------- resize


def resize_pil(img: Image.Image, size: int | tuple[int, int], method: str = "lanczos") -> Image.Image:
    """Antialiased resize of a PIL image. ``method``: lanczos (default), area (box), bilinear, bicubic."""
    sizes = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    resample = {
        "lanczos": Image.Resampling.LANCZOS,
        "area": Image.Resampling.BOX,
        "box": Image.Resampling.BOX,
        "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC,
        "nearest": Image.Resampling.NEAREST,
    }[method]
    if img.size == sizes:
        return img
    # for big reductions, reduce() by an integer factor first (exact box filter), then finish with method
    factor = min(img.size[0] // sizes[0], img.size[1] // sizes[1])
    if factor >= 3 and method != "nearest":
        img = img.reduce(factor // 2)
    return img.resize(sizes, resample=resample)


def resize_array(images: np.ndarray, size: int, method: str = "lanczos") -> np.ndarray:
    """uint8 ``[N, H, W, C]`` → uint8 ``[N, size, size, C]``, antialiased per image."""
    if images.shape[1] == size and images.shape[2] == size:
        return images
    out = np.empty((images.shape[0], size, size, images.shape[3]), dtype=np.uint8)
    for i, im in enumerate(images):
        pil = Image.fromarray(im[..., 0] if im.shape[2] == 1 else im)
        r = np.asarray(resize_pil(pil, size, method))
        out[i] = r[..., None] if r.ndim == 2 else r
    return out


def resize_tensor(x: torch.Tensor, size: int | tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Antialiased resize of ``[N, C, H, W]`` float tensors (antialias matters when shrinking)."""
    import torch.nn.functional as F

    sizes = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[-2:]) == sizes:
        return x
    return F.interpolate(x, size=sizes, mode=mode, align_corners=False, antialias=mode in ("bilinear", "bicubic"))


# ----------------------------------------------------------------------------- grids


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow < 10.1
        return ImageFont.load_default()


def make_grid(
    images: torch.Tensor | np.ndarray,
    nrow: int | None = None,
    padding: int = 2,
    pad_value: int = 255,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    scale: int = 1,
) -> np.ndarray:
    """Tile images into one uint8 ``[H, W, 3]`` picture, ``nrow`` images per row.

    ``row_labels`` are written left of each row, ``col_labels`` above each column. ``scale`` enlarges
    each tile by nearest-neighbour (useful for 28 px MNIST).
    """
    arr = to_uint8(images)  # [N, H, W, C]
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    n, h, w, _ = arr.shape
    if n == 0:
        raise AnimegenError("make_grid: no images to draw")
    if scale > 1:
        arr = arr.repeat(scale, axis=1).repeat(scale, axis=2)
        h, w = h * scale, w * scale
    ncol = nrow or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / ncol))
    font_px = max(10, min(16, h // 4))
    label_w = 0
    label_h = 0
    if row_labels:
        label_w = max(int(_font(font_px).getlength(str(s))) for s in row_labels) + 2 * padding + 4
    if col_labels:
        label_h = font_px + 2 * padding + 2
    H = label_h + rows * h + (rows + 1) * padding
    W = label_w + ncol * w + (ncol + 1) * padding
    grid = np.full((H, W, 3), pad_value, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, ncol)
        y = label_h + padding + r * (h + padding)
        x = label_w + padding + c * (w + padding)
        grid[y : y + h, x : x + w] = arr[i]
    if row_labels or col_labels:
        pil = Image.fromarray(grid)
        draw = ImageDraw.Draw(pil)
        font = _font(font_px)
        ink = (0, 0, 0) if pad_value > 127 else (255, 255, 255)
        for r, text in enumerate(row_labels or []):
            y = label_h + padding + r * (h + padding) + h // 2 - font_px // 2
            draw.text((padding, y), str(text), fill=ink, font=font)
        for c, text in enumerate(col_labels or []):
            x = label_w + padding + c * (w + padding)
            draw.text((x, padding), str(text), fill=ink, font=font)
        grid = np.asarray(pil)
    return grid


def save_png(image: np.ndarray | Image.Image, path: str | os.PathLike) -> None:
    """Atomically save a uint8 ``[H, W, C]`` array (or PIL image) as PNG, marked ``Software=animegen ...``
    (a tEXt chunk: what lets a later run replace it, see :func:`animegen.fsutil.check_output`)."""
    from PIL.PngImagePlugin import PngInfo

    from animegen import __version__

    if not isinstance(image, Image.Image):
        image = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    pil = image
    info = PngInfo()
    info.add_text("Software", f"animegen {__version__}")
    buf = io.BytesIO()
    pil.save(buf, format="PNG", optimize=True, pnginfo=info)
    atomic_write_bytes(path, buf.getvalue())


def save_grid(images: torch.Tensor | np.ndarray, path: str | os.PathLike, nrow: int | None = None, **kw) -> np.ndarray:
    grid = make_grid(images, nrow=nrow, **kw)
    save_png(grid, path)
    return grid


# ----------------------------------------------------------------------------- animations


def _frames_uint8(frames: Iterable[np.ndarray | torch.Tensor]) -> list[np.ndarray]:
    out = []
    for f in frames:
        a = f if isinstance(f, np.ndarray) else to_uint8(f)[0]
        if a.ndim == 4:
            a = a[0]
        if a.shape[-1] == 1:
            a = np.repeat(a, 3, axis=-1)
        out.append(np.ascontiguousarray(a))
    if not out:
        raise AnimegenError("no frames to write")
    return out


def save_gif(
    frames: Iterable[np.ndarray | torch.Tensor],
    path: str | os.PathLike,
    fps: float = 12,
    loop: int = 0,
    boomerang: bool = False,
) -> None:
    """Animated GIF from uint8 ``[H, W, C]`` frames (Pillow). ``boomerang`` plays forward then back."""
    arr = _frames_uint8(frames)
    if boomerang and len(arr) > 2:
        arr = arr + arr[-2:0:-1]
    pils = [Image.fromarray(a) for a in arr]
    buf = io.BytesIO()
    pils[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=pils[1:],
        duration=int(round(1000 / fps)),
        loop=loop,
        disposal=2,
        optimize=False,
        comment=b"written by animegen",
    )
    atomic_write_bytes(path, buf.getvalue())


def save_mp4(frames: Iterable[np.ndarray | torch.Tensor], path: str | os.PathLike, fps: float = 24) -> None:
    """H.264 MP4 via the static ffmpeg of imageio-ffmpeg (``pip install animegen[video]``).

    Frames are padded to even sizes (yuv420p needs them)."""
    iio_ffmpeg = require("imageio_ffmpeg", "pip install 'animegen[video]'", "MP4 export")
    arr = _frames_uint8(frames)
    h, w = arr[0].shape[:2]
    ph, pw = h % 2, w % 2
    if ph or pw:
        arr = [np.pad(a, ((0, ph), (0, pw), (0, 0)), mode="edge") for a in arr]
    with atomic_path(path) as tmp:
        writer = iio_ffmpeg.write_frames(
            str(tmp),
            (w + pw, h + ph),
            fps=fps,
            codec="libx264",
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            macro_block_size=1,
            quality=8,
            output_params=["-f", "mp4", "-movflags", "+faststart"],
            ffmpeg_log_level="error",
        )
        writer.send(None)  # start the generator
        try:
            for a in arr:
                writer.send(np.ascontiguousarray(a))
        finally:
            writer.close()


def upscale_nearest(image: np.ndarray, factor: int) -> np.ndarray:
    return image.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else image
