"""The constant shapes of the procedural faces, in head units (origin between the eyes, x right, y down,
face half-width 1): face outline, neck, eyes, mouths, brows, blush, hairline and cap, accessories,
clothes and the back-hair silhouettes. Built once at import; :mod:`animegen.data.synth_draw` places them.
"""
from __future__ import annotations

import math

import numpy as np

from animegen.data.synth_paint import catmull_rom, ellipse, stroke

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
BACK_HAIR = {"short": (1.27, 0.55), "bob": (1.36, 1.05), "long": (1.45, 2.9), "twintails": (1.2, 0.5),
         "ponytail": (1.2, 0.5)}
LOCK_Y = {"short": 0.45, "bob": 0.95, "long": 1.55, "twintails": 0.85, "ponytail": 0.7}
_th = np.linspace(np.pi * 0.98, np.pi * 2.02, 22)
BACK_TOP = {k: np.stack([half * np.cos(_th), -0.45 + 1.32 * np.sin(_th)], 1) for k, (half, _) in BACK_HAIR.items()}
