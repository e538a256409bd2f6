"""Vector drawing of one procedural anime face (used by :mod:`animegen.data.synthetic`).

Every shape is a polygon in *head units* (origin between the eyes, x right, y down, face half-width 1),
mapped to the canvas by an affine transform that applies face scale, offset and head tilt exactly (the
tilt rotates the head's shapes about the chin before rasterising, which equals rotating a supersampled
head layer, minus the resampling blur). The canvas is ``ss``× the output size; one box-filter
``reduce(ss)`` at the end antialiases it.

Layers, back to front: background, back hair (+ twin tails), neck and clothes, side ponytail, face,
shadows of the fringe and side locks, blush, eyes (white, iris with darker top, pupil, highlights,
lashes), nose, mouth, glasses, side locks, crown tufts, cap, fringe (outlined darker clumps, lighter
pass, highlight band), brows, ribbon / hairpin.

``draw_face(..., debug=True)`` also returns per-part visibility masks (``hair``, ``skin``, ``iris``, ...)
and landmarks, so tests can check that pixels agree with the labels.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

Color = tuple[int, ...]

HAIR_STYLES = ("short", "bob", "long", "twintails", "ponytail")
BANGS = ("blunt", "pointed", "swept", "parted")
EYE_STATES = ("open", "closed", "wink")
MOUTHS = ("closed", "smile", "open")
ACCESSORIES = ("none", "glasses", "ribbon", "hairpin")
BG_PATTERNS = ("plain", "gradient", "stripes", "dots")
CLOTHES = ("shirt", "sailor", "blazer")

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


# ----------------------------------------------------------------------------- constant shapes (head units)

EYE_X, EYE_Y = 0.44, 0.0  # eye centres at (±EYE_X, EYE_Y)
MOUTH_Y = 0.8
CAP_RX, CAP_RY, CAP_CY = 1.2, 1.22, -0.5  # the ellipse of hair over the skull

# right half of the face outline, top of the skull → pointed chin; mirrored for the left half
_FACE_R = catmull_rom([[0.0, -1.6], [0.62, -1.46], [0.93, -1.08], [1.0, -0.55], [1.0, -0.05], [0.96, 0.26],
                       [0.83, 0.52], [0.6, 0.78], [0.32, 1.0], [0.1, 1.15], [0.0, 1.19]], 5)
FACE = np.concatenate([_FACE_R, (_FACE_R * (-1, 1))[::-1][1:-1]])
NECK = np.array([[-0.33, 0.4], [0.33, 0.4], [0.35, 1.7], [-0.35, 1.7]])
_chin = FACE[FACE[:, 1] > 0.75] + (0, 0.17)
NECK_SHADOW = np.concatenate([_chin, [[0.34, 0.4], [-0.34, 0.4]]])
NECK_SHADOW[:, 0] = np.clip(NECK_SHADOW[:, 0], -0.31, 0.31)
NOSE = np.array([[0.02, 0.42], [0.06, 0.5], [0.0, 0.52]])
BROW = stroke(catmull_rom([[0.22, -0.47], [0.45, -0.54], [0.68, -0.48]], 3), 0.05, 0.015)
BLUSH = [ellipse(sgn * 0.56, 0.42, 0.24, 0.1) for sgn in (-1, 1)]
HATCH = [stroke([[sgn * 0.56 + (j - 1) * 0.1 + 0.03, 0.36], [sgn * 0.56 + (j - 1) * 0.1 - 0.03, 0.48]], 0.02, 0.02)
         for sgn in (-1, 1) for j in range(3)]

HAIRLINE = catmull_rom([[1.05, -0.35], [0.8, -0.95], [0.4, -1.15], [0.0, -1.2], [-0.4, -1.15], [-0.8, -0.95],
                        [-1.05, -0.35]], 4)
_th = np.linspace(np.pi * 0.93, np.pi * 2.07, 28)
CAP = np.concatenate([np.stack([CAP_RX * np.cos(_th), CAP_CY + CAP_RY * np.sin(_th)], 1), HAIRLINE])
_th = np.linspace(np.pi * 1.2, np.pi * 1.8, 15)
_r_in = np.where(np.arange(len(_th)) % 2 == 0, 0.66, 0.74)
HIGHLIGHT = np.concatenate([  # the "angel ring": a zigzag band across the crown
    np.stack([CAP_RX * 0.8 * np.cos(_th), CAP_CY + CAP_RY * 0.8 * np.sin(_th)], 1),
    np.stack([CAP_RX * _r_in * np.cos(_th), CAP_CY + CAP_RY * _r_in * np.sin(_th)], 1)[::-1]])

# thin darker strokes from the crown towards the fringe: hair texture on the cap
CAP_STROKES = [stroke(catmull_rom([[x0 * 0.3, -1.62], [x0 * 0.7, -1.3], [x0, -0.95]], 3), 0.006, 0.05)
               for x0 in (-0.85, -0.45, 0.1, 0.55, 0.95)]

# eye parts in eye units (u outward from the nose, v down), before eye-size scaling
_EYE_UPPER = catmull_rom([[-0.25, 0.02], [-0.14, -0.19], [0.03, -0.27], [0.19, -0.25], [0.3, -0.15]], 4)
_EYE_LOWER = catmull_rom([[0.3, -0.15], [0.28, 0.06], [0.17, 0.24], [0.0, 0.29], [-0.15, 0.23], [-0.25, 0.02]], 4)
_thick = (0.035 + 0.07 * np.linspace(0, 1, len(_EYE_UPPER)))[:, None] * (0, 1)
EYE = {
    "white": np.concatenate([_EYE_UPPER, _EYE_LOWER[1:-1]]),
    "lid_shadow": ellipse(0.0, -0.22, 0.4, 0.1),
    "iris": ellipse(0.02, 0.04, 0.19, 0.27),  # darkest: shows as the top and the rim
    "iris_mid": ellipse(0.02, 0.09, 0.155, 0.2),
    "iris_light": ellipse(0.02, 0.17, 0.12, 0.1),
    "pupil": ellipse(0.02, 0.05, 0.075, 0.12, 12),
    "glint": ellipse(-0.075, -0.06, 0.065, 0.085, 12),
    "glint2": ellipse(0.1, 0.17, 0.035, 0.035, 12),
    "lash_upper": np.concatenate([_EYE_UPPER + (0, 0.02), [[0.38, -0.08]], (_EYE_UPPER - _thick)[::-1]]),
    "lash_flick": np.array([[0.22, -0.3], [0.4, -0.27], [0.29, -0.2]]),
    "lash_lower": stroke(_EYE_LOWER[2:9], 0.035, 0.01) + (0.015, 0.01),
    "crease": stroke(catmull_rom([[-0.1, -0.33], [0.1, -0.37], [0.28, -0.28]], 3), 0.005, 0.02),
    "closed": stroke(catmull_rom([[-0.25, 0.04], [-0.1, 0.13], [0.08, 0.15], [0.22, 0.09], [0.31, -0.02]], 4),
                     0.04, 0.075, 0.09),
    "closed_lash": np.array([[0.27, 0.02], [0.36, 0.07], [0.3, -0.02]]),
}

MOUTH_INK = (120, 30, 40)
MOUTH = {
    "closed": [stroke(catmull_rom([[-0.11, MOUTH_Y], [0.0, MOUTH_Y + 0.012], [0.11, MOUTH_Y - 0.005]], 3),
                      0.02, 0.02, 0.035)],
    "smile": [stroke(catmull_rom([[-0.15, MOUTH_Y - 0.04], [-0.07, MOUTH_Y + 0.02], [0.07, MOUTH_Y + 0.02],
                                  [0.15, MOUTH_Y - 0.04]], 3), 0.015, 0.015, 0.045)],
    "open": [np.concatenate([[[-0.15, MOUTH_Y - 0.04]], catmull_rom(
        [[0.15, MOUTH_Y - 0.04], [0.08, MOUTH_Y + 0.1], [0.0, MOUTH_Y + 0.14], [-0.08, MOUTH_Y + 0.1],
         [-0.15, MOUTH_Y - 0.04]], 3)[:-1]]),
        ellipse(0.0, MOUTH_Y + 0.1, 0.08, 0.04, 12)],
}

_rim = [ellipse(sgn * EYE_X, 0.06, 0.34, 0.28, 32) for sgn in (-1, 1)]
GLASSES_LENS = _rim
GLASSES_FRAME = [stroke(np.concatenate([r, r[:1]]), 0.045, 0.045) for r in _rim] + [
    stroke([[sgn * (EYE_X + 0.33), -0.02], [sgn * 1.05, -0.06]], 0.04, 0.04) for sgn in (-1, 1)] + [
    stroke(catmull_rom([[-0.11, 0.02], [0.0, -0.03], [0.11, 0.02]], 3), 0.04, 0.04)]

_rc = np.array([0.62, -1.22])
RIBBON = [np.array([[0, 0], [sgn * 0.36, -0.21], [sgn * 0.43, 0.03], [sgn * 0.33, 0.22]]) + _rc for sgn in (-1, 1)] + [
    np.array([[0, 0.02], [sgn * 0.19, 0.42], [sgn * 0.07, 0.38], [sgn * 0.02, 0.05]]) + _rc for sgn in (-1, 1)]
RIBBON_KNOT = ellipse(_rc[0], _rc[1], 0.09, 0.1, 12)
HAIRPIN = [stroke(np.array([[-0.55, -0.82]]) + np.array([[-0.2], [0.2]]) * (math.cos(a + 1.3), math.sin(a + 1.3)),
                  0.08, 0.08) for a in (0.5, -0.5)]  # two crossed pins


def _clothes_shapes() -> dict[str, list[tuple[np.ndarray, str]]]:
    """Per style: (polygon, colour role) in head units, already lifted 0.12 up."""
    shoulders = np.concatenate([
        catmull_rom([[-0.34, 1.42], [-0.9, 1.6], [-1.8, 1.85], [-2.5, 2.3]], 4), [[-2.6, 3.6], [2.6, 3.6]],
        catmull_rom([[2.5, 2.3], [1.8, 1.85], [0.9, 1.6], [0.34, 1.42]], 4)])
    sailor = [
        (shoulders, "white"),
        (np.array([[-0.36, 1.42], [-1.5, 1.72], [-1.2, 2.3], [0, 2.15], [1.2, 2.3], [1.5, 1.72], [0.36, 1.42],
                   [0, 1.95]]), "cloth"),
        (np.array([[-1.2, 1.75], [-1.0, 2.12], [0, 2.0], [1.0, 2.12], [1.2, 1.75], [1.05, 1.77], [0.9, 2.02], [0, 1.9],
                   [-0.9, 2.02], [-1.05, 1.77]]), "white-noline"),
        (np.array([[-0.22, 1.98], [0.22, 1.98], [0.12, 2.2], [-0.12, 2.2]]), "red"),
    ]
    blazer = [
        (shoulders, "cloth"),
        (np.array([[-0.36, 1.42], [0.36, 1.42], [0.0, 2.3]]), "white"),
        (np.array([[-0.36, 1.42], [-0.75, 1.6], [-0.2, 2.4], [0, 2.3]]), "cloth_dark"),
        (np.array([[0.36, 1.42], [0.75, 1.6], [0.2, 2.4], [0, 2.3]]), "cloth_dark"),
        (np.array([[-0.1, 1.55], [0.1, 1.55], [0.14, 2.3], [-0.14, 2.3]]), "red"),
    ]
    shirt = [(shoulders, "cloth")] + [
        (np.array([[sgn * 0.05, 1.78], [sgn * 0.36, 1.38], [sgn * 0.55, 1.48], [sgn * 0.62, 1.78]]), "white")
        for sgn in (-1, 1)]
    lift = np.array([0.0, -0.12])
    return {name: [(p + lift, role) for p, role in shapes] for name, shapes in
            (("shirt", shirt), ("sailor", sailor), ("blazer", blazer))}


CLOTHES_SHAPES = _clothes_shapes()

# back hair: (half width, bottom) of the mass behind the head, and how far the side locks reach
_BACK = {"short": (1.27, 0.55), "bob": (1.36, 1.05), "long": (1.45, 2.9), "twintails": (1.2, 0.5),
         "ponytail": (1.2, 0.5)}
_LOCK_Y = {"short": 0.45, "bob": 0.95, "long": 1.55, "twintails": 0.85, "ponytail": 0.7}
_th = np.linspace(np.pi * 0.98, np.pi * 2.02, 22)
_BACK_TOP = {k: np.stack([half * np.cos(_th), -0.45 + 1.32 * np.sin(_th)], 1) for k, (half, _) in _BACK.items()}

# ----------------------------------------------------------------------------- parts


def _background(W: int, a: dict[str, Any]) -> Image.Image:
    pattern = BG_PATTERNS[int(a["bg_pattern"])]
    h, L = float(a["bg_hue"]), 0.78 + 0.2 * float(a["bg_lightness"])
    c0 = hls(h, L, 0.35)
    if pattern == "plain":
        return Image.new("RGB", (W, W), c0)
    if pattern == "gradient":
        c1 = np.array(hls(h + 0.06, L * 0.8, 0.5), dtype=np.float32)
        t = np.linspace(0, 1, W, dtype=np.float32)[:, None, None]  # [W, 1, 1]
        col = (np.array(c0, dtype=np.float32) * (1 - t) + c1 * t).round().astype(np.uint8)  # [W, 1, 3]
        return Image.fromarray(np.ascontiguousarray(np.broadcast_to(col, (W, W, 3))))
    img = Image.new("RGB", (W, W), c0)
    d = ImageDraw.Draw(img)
    c2 = hls(h, L - 0.08, 0.4)
    if pattern == "stripes":
        step = W / 6
        for i in range(-6, 8):
            x = i * step
            d.polygon([(x, 0), (x + step / 2, 0), (x + step / 2 + W, W), (x + W, W)], fill=c2)
    else:  # dots
        step = W / 5
        r = step * 0.22
        for j in range(6):
            for i in range(6):
                x, y = (i + 0.5 * (j % 2)) * step, j * step + step / 2
                d.ellipse([x - r, y - r, x + r, y + r], fill=c2)
    return img


def _back_hair(P: Painter, X: Xform, style: str, pal: Palette, jit: np.ndarray) -> None:
    """The hair mass behind the head (darker shade), plus twin tails / a ponytail. ``jit``: [25] in [-1, 1]."""
    line, base = pal.hair_line, pal.hair_shade
    tails = []
    if style == "twintails":
        tails = [(np.array([[sgn * 1.0, -0.85]]), np.array([[sgn * (1.45 + 0.08 * jit[i]), 2.5]]), sgn)
                 for i, sgn in enumerate((-1, 1))]
    for root, tip, sgn in tails:
        _outlined_strands(P, X, root, tip, [0.9], [sgn * -0.5], 1.6, base, line)
        inner = strands(root + (sgn * 0.1, 0.25), tip * (1, 0.8), [0.28], [sgn * -0.45])[0]
        P.poly(X(inner), pal.hair_dark, None, 0, "hair")
        P.poly(X(ellipse(root[0, 0] + sgn * 0.08, root[0, 1] + 0.1, 0.13, 0.1, 12)), pal.hair_line, None, 0, "hair")
    half, bottom = _BACK[style]
    if style == "long":
        side = np.array([[half + 0.03, 0.3], [half + 0.12, 1.4], [half + 0.2, bottom]])
    else:
        side = np.array([[half, 0.1], [half - 0.04, bottom]])
    n = 15 if style == "long" else 11
    xs = np.linspace(side[-1, 0], -side[-1, 0], n)
    ys = np.full(n, bottom) + 0.05 * jit[2:2 + n]
    ys[1::2] -= 0.22 if style != "bob" else 0.06
    if style != "long":  # the middle of the hem hides behind the neck
        mid = np.abs(xs) < 0.7 * half
        ys[mid] = np.minimum(ys[mid], bottom - 0.1)
    mass = np.concatenate([_BACK_TOP[style], side, np.stack([xs, ys], 1), (side * (-1, 1))[::-1]])
    P.poly(X(mass), base, line, 1.0, "hair")
    rx = np.linspace(-0.75, 0.75, 4) * half + 0.08 * jit[17:21]
    roots = np.stack([rx * 0.8, np.full(4, -0.2)], 1)
    tips = np.stack([rx * 1.05, np.full(4, bottom - 0.05)], 1)
    for s_ in X(strands(roots, tips, np.full(4, 0.22), 0.1 * jit[21:25])):  # darker strands for texture
        P.poly(s_, pal.hair_dark, None, 0, "hair")


def _side_tail(P: Painter, X: Xform, pal: Palette, jit: float) -> None:
    """A side ponytail: from behind the head on the image's right, over the shoulder, tied below the jaw."""
    root, tip = np.array([[1.0, -0.45]]), np.array([[0.8 + 0.06 * jit, 2.4]])
    _outlined_strands(P, X, root, tip, [0.85], [-0.62], 1.6, pal.hair_shade, pal.hair_line)
    P.poly(X(strands(root + (0.1, 0.5), tip * (1, 0.85), [0.3], [-0.5])[0]), pal.hair, None, 0, "hair")
    P.poly(X(ellipse(1.19, 0.4, 0.14, 0.075, 12)), pal.hair_line, None, 0, "hair")


def _body(P: Painter, X: Xform, a: dict[str, Any], pal: Palette) -> None:
    P.poly(X(NECK), pal.skin, pal.skin_line, 1.0, "skin")
    P.poly(X(NECK_SHADOW), pal.skin_shade, None, 0, "skin")
    style = CLOTHES[int(a["clothes"])]
    ch = float(a["clothes_hue"])
    colours = {"cloth": hls(ch, 0.6 if style == "shirt" else 0.42, 0.5), "cloth_dark": hls(ch, 0.3, 0.5),
               "white": WHITE, "white-noline": WHITE, "red": (200, 40, 55)}
    cline = hls(ch, 0.2, 0.5)
    for pts, role in CLOTHES_SHAPES[style]:
        P.poly(X(pts), colours[role], None if role.endswith("noline") else cline, 1.0, "clothes")


def _eye(P: Painter, X: Xform, sgn: int, k: float, is_open: bool, pal: Palette) -> None:
    """One eye at x = sgn * EYE_X, scaled by ``k``."""
    c = np.array([sgn * EYE_X, EYE_Y])
    M = np.array([sgn * k, k])

    def E(uv: np.ndarray) -> np.ndarray:  # eye units → canvas
        return X(c + uv * M)

    if not is_open:
        P.poly(E(EYE["closed"]), LASH, None, 0, "lash")
        P.poly(E(EYE["closed_lash"]), LASH, None, 0, "lash")
        return
    white = E(EYE["white"])
    S = P.sub(white, WHITE)  # iris etc. are clipped to the eye white
    S.poly(E(EYE["lid_shadow"]), (214, 214, 232), None, 0, "eye_white")
    S.poly(E(EYE["iris"]), pal.iris_dark, None, 0, "iris")
    S.poly(E(EYE["iris_mid"]), pal.iris, None, 0, "iris")
    S.poly(E(EYE["iris_light"]), pal.iris_light, None, 0, "iris")
    S.poly(E(EYE["pupil"]), pal.pupil, None, 0, "pupil")
    S.poly(E(EYE["glint"]), (255, 255, 255), None, 0, "glint")
    S.poly(E(EYE["glint2"]), (255, 255, 255), None, 0, "glint")
    P.paste(S, white, "eye_white")
    P.poly(E(EYE["lash_upper"]), LASH, None, 0, "lash")
    P.poly(E(EYE["lash_flick"]), LASH, None, 0, "lash")
    P.poly(E(EYE["lash_lower"]), LASH, None, 0, "lash")
    P.poly(E(EYE["crease"]), mix(LASH, pal.skin, 0.5), None, 0, "lash")


@dataclass
class Fringe:
    """Geometry of the bangs (head units): clumps from roots to pointed tips, plus the side locks."""

    roots: np.ndarray  # [K, 2]
    tips: np.ndarray  # [K, 2]
    widths: np.ndarray  # [K]
    bends: np.ndarray  # [K]
    taper: float
    lock_roots: np.ndarray  # [4, 2]
    lock_tips: np.ndarray  # [4, 2]

    def clumps(self) -> np.ndarray:
        return strands(self.roots, self.tips, self.widths, self.bends, self.taper)  # [K, 18, 2]

    def order(self) -> np.ndarray:
        return np.argsort(np.abs(self.roots[:, 0]))[::-1]  # outer clumps first: the middle ones lie on top


def fringe_geometry(style: str, hair_style: str, j: np.ndarray) -> Fringe:
    """Bangs of ``style``; ``j`` [3, 7] jitter in [-1, 1]."""
    if style == "blunt":
        k = 7
        xs = np.linspace(-0.95, 0.95, k) + 0.03 * j[0, :k]
        tip_y = -0.3 + 0.03 * j[1, :k]
        tip_x = xs * 1.04
        widths = np.full(k, 0.5)
        bends = 0.03 * j[2, :k]
        taper = 3.0
    elif style == "pointed":
        k = 6
        xs = np.linspace(-0.92, 0.92, k) + 0.04 * j[0, :k]
        tip_y = np.where(np.arange(k) % 2 == 0, -0.2, -0.4) + 0.07 * j[1, :k]
        tip_x = xs * 1.08 + 0.06 * j[2, :k]
        widths = np.full(k, 0.62)
        bends = 0.1 * j[2, ::-1][:k]
        taper = 1.2
    elif style == "swept":
        k = 6
        xs = np.linspace(-1.0, 0.8, k) + 0.04 * j[0, :k]
        tip_y = np.linspace(-0.6, -0.18, k) + 0.05 * j[1, :k]
        tip_x = xs + 0.42
        widths = np.full(k, 0.66)
        bends = -0.18 + 0.05 * j[2, :k]
        taper = 1.3
    else:  # parted in the middle
        k = 6
        xs = np.concatenate([np.linspace(-1.0, -0.2, k // 2), np.linspace(0.2, 1.0, k // 2)]) + 0.03 * j[0, :k]
        tip_y = -0.8 + 0.5 * np.abs(xs) + 0.05 * j[1, :k]  # shorter near the parting
        tip_x = xs * 1.1 + np.sign(xs) * 0.22
        widths = np.full(k, 0.58)
        bends = np.sign(xs) * 0.14
        taper = 1.3
    root_y = np.interp(xs, HAIRLINE[::-1, 0], HAIRLINE[::-1, 1]) - 0.2
    ly = _LOCK_Y[hair_style] + 0.05 * j[2, 6]
    lock_roots = np.array([[-0.78, -0.95], [-1.0, -0.7], [0.78, -0.95], [1.0, -0.7]])
    lock_tips = np.array([[-0.88, ly], [-1.08, ly + 0.2], [0.88, ly], [1.08, ly + 0.2]])
    lock_tips[:, 0] += 0.05 * j[0, 6] * np.array([1, 1, -1, -1])
    return Fringe(np.stack([xs * 0.9, root_y], 1), np.stack([tip_x, tip_y], 1), widths, bends, taper,
                  lock_roots, lock_tips)


def _fringe_shadow(P: Painter, X: Xform, g: Fringe, pal: Palette) -> None:
    """The shadow the bangs cast on the forehead: the clumps shifted down, kept inside the face."""
    P.poly(X(np.array([[-0.9, -1.1], [0.9, -1.1], [0.9, -0.8], [-0.9, -0.8]])), pal.skin_shade, None, 0, "skin")
    sh = g.clumps() + (0.0, 0.1)
    sh[..., 0] = np.clip(sh[..., 0], -0.9, 0.9)
    for c in X(sh):
        P.poly(c, pal.skin_shade, None, 0, "skin")
    # the side locks shade the cheeks next to them
    locks = strands(g.lock_roots[::2] * (0.92, 1), g.lock_tips[::2] * (0.9, 0.9), _LOCK_W[::2] * 1.1,
                    _LOCK_BEND[::2], 1.3)
    locks[..., 0] = np.clip(locks[..., 0], -0.95, 0.95)
    for c in X(locks):
        P.poly(c, pal.skin_shade, None, 0, "skin")


# tufts breaking the round silhouette of the crown: two per side, pointing out and down
_th = np.radians([198.0, 218.0, 342.0, 322.0])
TUFT_ROOTS = np.stack([0.85 * CAP_RX * np.cos(_th), CAP_CY + 0.85 * CAP_RY * np.sin(_th)], 1)
TUFT_TIPS = TUFT_ROOTS + np.array([[-0.55, 0.25], [-0.45, -0.02], [0.55, 0.25], [0.45, -0.02]])
_TUFT_W = np.array([0.34, 0.3, 0.34, 0.3])
_TUFT_BEND = np.array([0.1, 0.08, -0.1, -0.08])
_LOCK_W = np.array([0.36, 0.34, 0.36, 0.34])
_LOCK_BEND = np.array([-0.12, -0.08, 0.12, 0.08])


def _outlined_strands(P: Painter, X: Xform, roots, tips, widths, bends, taper: float, fill: Color, line: Color,
                      order=None) -> None:
    """Strands, each over a slightly grown copy of itself in the line colour (its outline)."""
    grow = 0.75 * P.line_px(1.0) / X.px
    under = X(strands(roots, tips, widths, bends, taper, grow))
    over = X(strands(roots, tips, widths, bends, taper))
    for i in (range(len(over)) if order is None else order):
        P.poly(under[i], line, None, 0, "hair")
        P.poly(over[i], fill, None, 0, "hair")


def _fringe(P: Painter, X: Xform, g: Fringe, pal: Palette, tuft_jit: np.ndarray) -> None:
    """Side locks, tufts sticking out of the crown, the cap over the head, the bangs and the highlight band."""
    line = pal.hair_line
    sg = np.sign(g.lock_roots[:, 0])
    _outlined_strands(P, X, g.lock_roots, g.lock_tips, _LOCK_W, _LOCK_BEND, 1.3, pal.hair_shade, line)
    _outlined_strands(P, X, TUFT_ROOTS, TUFT_TIPS + 0.08 * tuft_jit.reshape(4, 1), _TUFT_W, _TUFT_BEND, 1.0,
                      pal.hair, line)
    inner = X(strands(g.lock_roots - sg[:, None] * (0.02, 0.0), g.lock_tips * (1, 0.85) + (0, -0.05), _LOCK_W * 0.55,
                      _LOCK_BEND * 0.8))
    for s_ in inner:
        P.poly(s_, pal.hair, None, 0, "hair")
    P.poly(X(CAP), pal.hair, line, 1.0, "hair")
    # a darker pass with outlines, then a lighter pass on top (as wide at the root, ending higher) that
    # hides the inner outlines near the roots: strand lines and shade stay only towards the tips
    order = g.order()
    _outlined_strands(P, X, g.roots, g.tips, g.widths, g.bends, g.taper, pal.hair_shade, line, order)
    lighter = X(strands(g.roots + (0, -0.1), g.roots + (g.tips - g.roots) * 0.7, g.widths * 1.08, g.bends * 0.7,
                        g.taper))
    for i in order:
        P.poly(lighter[i], pal.hair, None, 0, "hair")
    for st in CAP_STROKES:
        P.poly(X(st), pal.hair_shade, None, 0, "hair")
    P.poly(X(HIGHLIGHT), pal.hair_hi, None, 0, "hair")


def _accessory(P: Painter, X: Xform, kind: str, hue: float) -> None:
    if kind == "glasses":
        frame = hls(hue, 0.3, 0.55)
        for lens in GLASSES_LENS:
            P.poly(X(lens), (255, 255, 255, 40))
        for part in GLASSES_FRAME:
            P.poly(X(part), frame, None, 0, "accessory")
        return
    col, dark = hls(hue, 0.55, 0.75), hls(hue, 0.28, 0.7)
    if kind == "ribbon":
        for part in RIBBON:
            P.poly(X(part), col, dark, 1.0, "accessory")
        P.poly(X(RIBBON_KNOT), dark, None, 0, "accessory")
    elif kind == "hairpin":
        for part in HAIRPIN:
            P.poly(X(part), col, dark, 0.8, "accessory")


def _mouth(P: Painter, X: Xform, kind: str, pal: Palette) -> None:
    ink = mix(pal.skin_line, MOUTH_INK, 0.4)
    shapes = MOUTH[kind]
    if kind == "open":
        P.poly(X(shapes[0]), (150, 45, 60), ink, 0.8, "mouth")
        P.poly(X(shapes[1]), (236, 120, 130), None, 0, "mouth")
    else:
        P.poly(X(shapes[0]), ink, None, 0, "mouth")


# ----------------------------------------------------------------------------- the face


def supersample_factor(size: int) -> int:
    """Canvas = size × factor: about 256 px for small outputs, at least 3× for large ones."""
    return int(min(8, max(3, math.ceil(256 / size))))


def eye_scale(a: dict[str, Any]) -> float:
    return 0.95 + 0.4 * float(a["eye_size"])


def head_transform(a: dict[str, Any], W: float) -> tuple[Xform, Xform]:
    """(head, body) transforms; the body is not tilted."""
    s = 0.34 * float(a["face_scale"])
    origin = (0.5 + float(a["face_x"]), 0.54 + float(a["face_y"]))
    return Xform(W, origin, s, float(a["tilt"])), Xform(W, origin, s, 0.0)


def draw_face(a: dict[str, Any], size: int, rng: np.random.Generator, ss: int | None = None,
              debug: bool = False) -> tuple[np.ndarray, dict[str, Any] | None]:
    """Render one face described by the attribute dict ``a`` (see ``synthetic.ATTRIBUTES``).

    ``rng`` only drives small nuisance jitter (strand tips); it is drawn once, up-front, so the jitter
    does not depend on the attributes. Returns uint8 ``[size, size, 3]`` and, with ``debug``,
    ``{"masks": {part: float [size, size] visible coverage in [0, 1]}, "points": {name: (x, y) px}}``.
    """
    ss = ss or supersample_factor(size)
    W = size * ss
    jit = rng.uniform(-1, 1, 51)
    pal = Palette.from_attrs(a)
    head, body = head_transform(a, W)
    P = Painter(_background(W, a), debug, lw=ss * size / 64)
    if P.masks is not None:
        P.masks["background"] = Image.new("L", (W, W), 255)
    hair_style = HAIR_STYLES[int(a["hair_style"])]
    eye_state = EYE_STATES[int(a["eye_state"])]
    accessory = ACCESSORIES[int(a["accessory"])]
    fringe = fringe_geometry(BANGS[int(a["bangs"])], hair_style, jit[:21].reshape(3, 7))

    _back_hair(P, head, hair_style, pal, jit[21:46])
    _body(P, body, a, pal)
    if hair_style == "ponytail":
        _side_tail(P, head, pal, jit[46])
    P.poly(head(FACE), pal.skin, pal.skin_line, 1.0, "skin")
    _fringe_shadow(P, head, fringe, pal)
    blush = float(a["blush"])
    if blush > 0.05:  # pink over the skin, blended here: opaque fills are much cheaper than RGBA ones
        pink = mix(pal.skin, (255, 110, 130), 150 / 255 * blush)
        for b in BLUSH:
            P.poly(head(b), pink, None, 0, "skin")
        if blush > 0.6:
            hatch = mix(pink, (230, 90, 110), 200 / 255 * blush)
            for h in HATCH:
                P.poly(head(h), hatch, None, 0, "skin")
    k = eye_scale(a)
    for sgn in (-1, 1):  # wink: the eye on the image's right closes
        _eye(P, head, sgn, k, eye_state == "open" or (eye_state == "wink" and sgn == -1), pal)
    P.poly(head(NOSE), pal.skin_line, None, 0, "skin")
    _mouth(P, head, MOUTHS[int(a["mouth"])], pal)
    if accessory == "glasses":
        _accessory(P, head, accessory, float(a["accessory_hue"]))
    _fringe(P, head, fringe, pal, jit[47:51])
    for sgn in (-1, 1):  # eyebrows, drawn over the bangs as anime does
        P.poly(head(BROW * (sgn, 1)), pal.hair_line, None, 0, "brow")
    if accessory in ("ribbon", "hairpin"):
        _accessory(P, head, accessory, float(a["accessory_hue"]))

    out = np.asarray(P.img.reduce(ss) if ss > 1 else P.img)
    if P.masks is None:
        return out, None
    masks = {name: np.asarray(m.reduce(ss) if ss > 1 else m).astype(np.float32) / 255.0 for name, m in P.masks.items()}
    pts = head(np.array([[-EYE_X, EYE_Y], [EYE_X, EYE_Y], [0.0, MOUTH_Y]])) / ss
    points = {"eye_left": pts[0], "eye_right": pts[1], "mouth": pts[2]}
    return out, {"masks": masks, "points": points, "eye_radius_px": 0.3 * k * head.px / ss}
