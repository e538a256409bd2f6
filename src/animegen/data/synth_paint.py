"""Drawing primitives of the procedural faces (:mod:`animegen.data.synth_draw`): smooth curves, tapered
strokes and hair strands as polygons, the head-units → canvas transform, colours and palettes, and the
painter that rasterises polygons onto the supersampled canvas while keeping per-part visibility masks.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

Color = tuple[int, ...]

# ----------------------------------------------------------------------------- geometry helpers


def catmull_rom(points, samples: int = 6) -> np.ndarray:
    """Smooth open curve through ``points`` [K, 2] → [(K-1)*samples + 1, 2]."""
    p = np.asarray(points, dtype=np.float64)
    ext = np.concatenate([2 * p[:1] - p[1:2], p, 2 * p[-1:] - p[-2:-1]])  # [K+2, 2]
    t = np.linspace(0, 1, samples, endpoint=False)[:, None]  # [S, 1]
    t2, t3 = t * t, t * t * t
    out = []
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        out.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t3))
    out.append(p[-1:])
    return np.concatenate(out)


def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 20) -> np.ndarray:
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(th), cy + ry * np.sin(th)], 1)


def stroke(pts, w0: float, w1: float, w_mid: float | None = None) -> np.ndarray:
    """Polygon of a tapered line along ``pts`` [K, 2]: width ``w0`` at the start, ``w1`` at the end
    (``w_mid`` in the middle, if given)."""
    pts = np.asarray(pts, dtype=np.float64)
    d = np.gradient(pts, axis=0)
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-9
    nrm = np.stack([-d[:, 1], d[:, 0]], 1)
    t = np.linspace(0, 1, len(pts))[:, None]
    w = w0 + (w1 - w0) * t
    if w_mid is not None:
        w = w + (w_mid - (w0 + w1) / 2) * (1 - (2 * t - 1) ** 2)
    return np.concatenate([pts + nrm * w / 2, (pts - nrm * w / 2)[::-1]])


_T = np.linspace(0, 1, 9)  # spine samples
_BERN = np.stack([(1 - _T) ** 2, 2 * (1 - _T) * _T, _T ** 2], 1)  # [9, 3] quadratic Bézier weights
_DBERN = np.stack([_T - 1, 1 - 2 * _T, _T], 1)  # [9, 3] derivative weights (up to a factor 2)
_PROFILE: dict[float, np.ndarray] = {}


def strands(roots, tips, widths, bends, taper: float = 1.0, grow: float = 0.0) -> np.ndarray:
    """Pointed hair strands: quadratic Bézier spines from ``roots`` to ``tips`` [K, 2], bent sideways by
    ``bends`` [K], ``widths`` [K] at the root tapering to a point (``taper`` > 1 keeps them wide longer).
    Returns polygons [K, 18, 2]; ``grow`` > 0 returns the same strands grown by ``grow`` on every side
    ([K, 19, 2]): filled in a line colour under the strand it draws its outline (cheaper than a stroke)."""
    roots, tips = np.asarray(roots, dtype=np.float64), np.asarray(tips, dtype=np.float64)
    d = tips - roots  # [K, 2]
    nrm = d[:, ::-1] * (-1.0, 1.0) / np.sqrt((d * d).sum(1, keepdims=True) + 1e-12)
    ctrl = (roots + tips) * 0.5 + nrm * np.asarray(bends, dtype=np.float64)[:, None]
    ctl = np.stack([roots, ctrl, tips], 1)  # [K, 3, 2]
    spine = _BERN @ ctl  # [K, 9, 2]
    tan = _DBERN @ ctl  # [K, 9, 2]
    n = tan[..., ::-1] * (-1.0, 1.0) / np.sqrt((tan * tan).sum(2, keepdims=True) + 1e-12)
    prof = _PROFILE.get(taper)
    if prof is None:
        prof = _PROFILE[taper] = ((1 - _T ** (1.0 / taper)) ** 0.8 / 2)[:, None]  # [9, 1]
    off = n * (np.asarray(widths, dtype=np.float64)[:, None, None] * prof + grow)  # [K, 9, 2]
    if grow:
        apex = spine[:, -1:] + n[:, -1:, ::-1] * (1.0, -1.0) * (2.5 * grow)  # tangent = rotated normal
        return np.concatenate([spine + off, apex, (spine - off)[:, ::-1]], axis=1)  # [K, 19, 2]
    return np.concatenate([spine + off, (spine - off)[:, ::-1]], axis=1)  # [K, 18, 2]


class Xform:
    """Head units → canvas pixels: ``s`` (frame fraction per unit), ``origin`` (frame fraction) and a
    clockwise tilt in degrees about ``pivot`` (head units)."""

    def __init__(self, W: float, origin: tuple[float, float], s: float, tilt_deg: float = 0.0,
                 pivot: tuple[float, float] = (0.0, 1.05)):
        a = math.radians(tilt_deg)
        c, sn = math.cos(a), math.sin(a)
        self.M = W * s * np.array([[c, -sn], [sn, c]])  # [2, 2]
        self.MT = np.ascontiguousarray(self.M.T)
        piv = np.array(pivot)
        self.b = W * (np.array(origin) + s * piv) - self.M @ piv
        self.px = W * s  # canvas pixels per head unit

    def __call__(self, pts) -> np.ndarray:
        """[..., 2] head units → [..., 2] canvas pixels (works on stacks of polygons at once)."""
        out = np.matmul(pts, self.MT)
        out += self.b
        return out


# ----------------------------------------------------------------------------- colour


def hls(h: float, lightness: float, s: float) -> Color:
    r, g, b = colorsys.hls_to_rgb(h % 1.0, min(max(lightness, 0.0), 1.0), min(max(s, 0.0), 1.0))
    return (int(r * 255 + 0.5), int(g * 255 + 0.5), int(b * 255 + 0.5))


def mix(c0: Color, c1: Color, t: float) -> Color:
    return tuple(int(round(a + (b - a) * t)) for a, b in zip(c0[:3], c1[:3], strict=False))


def scale_rgb(c: Color, f: float) -> Color:
    return tuple(min(255, int(round(v * f))) for v in c[:3])


SKIN_PALE, SKIN_TAN = (255, 241, 230), (228, 178, 142)
LASH = (42, 26, 32)
WHITE = (250, 250, 252)


@dataclass
class Palette:
    hair: Color
    hair_shade: Color
    hair_dark: Color
    hair_line: Color
    hair_hi: Color
    skin: Color
    skin_shade: Color
    skin_line: Color
    iris: Color
    iris_dark: Color
    iris_light: Color
    pupil: Color

    @staticmethod
    def from_attrs(a: dict[str, Any]) -> Palette:
        h = float(a["hair_hue"])
        L = 0.12 + 0.74 * float(a["hair_lightness"])
        S = 0.1 + 0.62 * float(a["hair_saturation"])
        skin = mix(SKIN_PALE, SKIN_TAN, float(a["skin_tone"]))
        e = float(a["eye_hue"])
        return Palette(
            hair=hls(h, L, S), hair_shade=hls(h, L * 0.76, S), hair_dark=hls(h, L * 0.56, S),
            hair_line=hls(h, L * 0.36, min(1.0, S * 1.1)), hair_hi=hls(h, L + (1 - L) * 0.5, S * 0.95),
            skin=skin, skin_shade=mix(scale_rgb(skin, 0.9), (230, 140, 140), 0.18),
            skin_line=mix(scale_rgb(skin, 0.55), (120, 50, 40), 0.3),
            iris=hls(e, 0.46, 0.7), iris_dark=hls(e, 0.24, 0.75), iris_light=hls(e, 0.68, 0.75),
            pupil=hls(e, 0.12, 0.6),
        )


# ----------------------------------------------------------------------------- painter (canvas + masks)


class Painter:
    """An RGB canvas (or a sub-canvas at ``offset``) plus, in debug mode, per-part visibility masks."""

    def __init__(self, img: Image.Image, debug: bool = False, offset: tuple[int, int] = (0, 0), lw: float = 1.0):
        self.img = img
        self.d = ImageDraw.Draw(img)  # opaque fills: several times faster than an "RGBA" draw
        self.da: ImageDraw.ImageDraw | None = None  # translucent fills (blended), made on first use
        self.off = np.array(offset, dtype=np.float64)
        self.masks: dict[str, Image.Image] | None = {} if debug else None
        self.lw = lw  # canvas pixels of a line 1 px wide at 64 px output

    def _xy(self, pts) -> list[float]:
        if self.off[0] == 0 and self.off[1] == 0:
            return pts.ravel().tolist()
        return (np.asarray(pts) - self.off).ravel().tolist()

    def line_px(self, w64: float = 1.0) -> int:
        """Canvas pixels of a line ``w64`` output pixels wide at 64 px."""
        return max(1, int(round(w64 * self.lw)))

    def poly(self, pts, fill: Color, outline: Color | None = None, w64: float = 0.0, tag: str = "other") -> None:
        """Fill a polygon; with ``outline``, stroke its border ``w64`` output pixels (at 64 px) wide."""
        xy = self._xy(pts)
        w = self.line_px(w64) if outline is not None and w64 > 0 else 0
        if len(fill) == 4:
            if self.da is None:
                self.da = ImageDraw.Draw(self.img, "RGBA")
            self.da.polygon(xy, fill=fill)
            return  # translucent paint does not change which part is visible
        self.d.polygon(xy, fill=fill)
        if w:  # a round-jointed closed line is ~3x cheaper than polygon(width=...)
            self.d.line(xy + xy[:2], fill=outline, width=w, joint="curve")
        if self.masks is not None:
            self._mark(xy, w, tag)

    def _mark(self, xy: list[float], w: int, tag: str) -> None:
        assert self.masks is not None
        if tag not in self.masks:
            self.masks[tag] = Image.new("L", self.img.size, 0)
        for name, m in self.masks.items():
            v = 255 if name == tag else 0
            dm = ImageDraw.Draw(m)
            dm.polygon(xy, fill=v)
            if w:
                dm.line(xy + xy[:2], fill=v, width=w, joint="curve")

    def sub(self, pts, fill: Color) -> Painter:
        """A sub-canvas covering the bounding box of ``pts`` (canvas coordinates)."""
        x0, y0 = np.floor(np.asarray(pts).min(0)).astype(int) - 2
        x1, y1 = np.ceil(np.asarray(pts).max(0)).astype(int) + 2
        return Painter(Image.new("RGB", (int(x1 - x0), int(y1 - y0)), fill), self.masks is not None,
                       (int(x0), int(y0)), self.lw)

    def paste(self, sub: Painter, clip, tag: str) -> None:
        """Paste ``sub`` clipped to the polygon ``clip``; ``tag`` names the sub-canvas' own background."""
        m = Image.new("L", sub.img.size, 0)
        ImageDraw.Draw(m).polygon(sub._xy(clip), fill=255)
        pos = (int(sub.off[0] - self.off[0]), int(sub.off[1] - self.off[1]))
        self.img.paste(sub.img, pos, m)
        if self.masks is None or sub.masks is None:
            return
        covered = np.zeros(sub.img.size[::-1], dtype=np.uint8)
        for sm in sub.masks.values():
            covered = np.maximum(covered, np.asarray(sm))
        sub_masks = {k: np.asarray(v) for k, v in sub.masks.items()}
        sub_masks[tag] = np.maximum(sub_masks.get(tag, covered * 0), 255 - covered)
        for name in set(self.masks) | set(sub_masks):
            if name not in self.masks:
                self.masks[name] = Image.new("L", self.img.size, 0)
            src = sub_masks.get(name, covered * 0)
            self.masks[name].paste(Image.fromarray(src.astype(np.uint8)), pos, m)
