"""Measure a face detector on synthetic illustrations with known face boxes.

Real face crops (e.g. the 64 px anime faces) are upscaled 2–4× and pasted at random, non-overlapping
positions onto cluttered backgrounds (colour gradient, noise, random shapes). A placed face counts as
found when a detection overlaps it with IoU ≥ 0.3 or has its centre inside it (detectors disagree on
how much hair and chin a "face" box includes).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from animegen.data.detect import Detector, Face


@dataclass
class Scene:
    image: Image.Image
    boxes: list[tuple[int, int, int, int]]
    """Placed faces as ``(x, y, w, h)``."""


def _background(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, w)[None, :, None] if rng.random() < 0.5 else np.linspace(0, 1, h)[:, None, None]
    a = np.broadcast_to(c0 * (1 - t) + c1 * t, (h, w, 3)) + rng.normal(0, 6, (h, w, 3))
    im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(3, 9))):  # clutter
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(10, w // 3)), y0 + int(rng.integers(10, h // 3))
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)((x0, y0, x1, y1), fill=col)
    return im


def make_scenes(faces: np.ndarray, n: int, seed: int = 0, size: tuple[int, int] = (640, 480),
                scale: tuple[float, float] = (2.0, 4.0), max_faces: int = 2) -> list[Scene]:
    """``n`` illustrations with 1..``max_faces`` faces from uint8 ``[K, h, w, 3]`` ``faces`` each."""
    rng = np.random.default_rng(seed)
    W, H = size
    scenes = []
    for _ in range(n):
        im = _background(rng, W, H)
        boxes: list[tuple[int, int, int, int]] = []
        for _ in range(int(rng.integers(1, max_faces + 1))):
            face = faces[int(rng.integers(len(faces)))]
            s = int(round(face.shape[0] * rng.uniform(*scale)))
            s = min(s, W, H)
            for _try in range(50):
                x, y = int(rng.integers(0, W - s + 1)), int(rng.integers(0, H - s + 1))
                if all(Face(x, y, s, s, 0).iou(b) == 0 for b in boxes):
                    break
            else:
                continue
            im.paste(Image.fromarray(face).resize((s, s), Image.Resampling.LANCZOS), (x, y))
            boxes.append((x, y, s, s))
        scenes.append(Scene(im, boxes))
    return scenes


def matches(placed: tuple[int, int, int, int], det: Face, iou: float = 0.3) -> bool:
    x, y, w, h = placed
    cx, cy = det.center
    return det.iou(placed) >= iou or (x <= cx < x + w and y <= cy < y + h)


def evaluate(detector: Detector, scenes: list[Scene]) -> dict[str, float]:
    """Recall, precision and speed of ``detector`` on ``scenes``."""
    found = placed = dets = good = 0
    t0 = time.perf_counter()
    all_dets = [detector.detect(s.image) for s in scenes]
    seconds = time.perf_counter() - t0
    for s, ds in zip(scenes, all_dets, strict=False):
        placed += len(s.boxes)
        found += sum(any(matches(b, d) for d in ds) for b in s.boxes)
        dets += len(ds)
        good += sum(any(matches(b, d) for b in s.boxes) for d in ds)
    return {"images": len(scenes), "faces": placed, "recall": found / max(placed, 1),
            "precision": good / max(dets, 1), "detections": dets, "seconds": seconds,
            "images_per_s": len(scenes) / seconds if seconds > 0 else float("inf")}
