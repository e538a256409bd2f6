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

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from animegen.data.synth_paint import LASH, WHITE, Color, Painter, Palette, Xform, ellipse, hls, mix, strands
from animegen.data.synth_shapes import (
    BACK_HAIR,
    BACK_TOP,
    BLUSH,
    BROW,
    CAP,
    CAP_CY,
    CAP_RX,
    CAP_RY,
    CAP_STROKES,
    CLOTHES_SHAPES,
    EYE,
    EYE_X,
    EYE_Y,
    FACE,
    GLASSES_FRAME,
    GLASSES_LENS,
    HAIRLINE,
    HAIRPIN,
    HATCH,
    HIGHLIGHT,
    LOCK_Y,
    MOUTH,
    MOUTH_INK,
    MOUTH_Y,
    NECK,
    NECK_SHADOW,
    NOSE,
    RIBBON,
    RIBBON_KNOT,
)

HAIR_STYLES = ("short", "bob", "long", "twintails", "ponytail")
BANGS = ("blunt", "pointed", "swept", "parted")
EYE_STATES = ("open", "closed", "wink")
MOUTHS = ("closed", "smile", "open")
ACCESSORIES = ("none", "glasses", "ribbon", "hairpin")
BG_PATTERNS = ("plain", "gradient", "stripes", "dots")
CLOTHES = ("shirt", "sailor", "blazer")


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
    half, bottom = BACK_HAIR[style]
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
    mass = np.concatenate([BACK_TOP[style], side, np.stack([xs, ys], 1), (side * (-1, 1))[::-1]])
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
    ly = LOCK_Y[hair_style] + 0.05 * j[2, 6]
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
