"""Checks every report test applies to a written page: embedded images decode, no external URL, numbers finite."""
from __future__ import annotations

import base64
import html as htmllib
import io
import math
import re

from PIL import Image

IMG_SRC = re.compile(r"<img[^>]*\bsrc=['\"]([^'\"]+)['\"]")
CELL = re.compile(r"<td>(.*?)</td>")


def section_ids(page: str) -> list[str]:
    return re.findall(r"<section id='([^']+)'>", page)


def decoded_images(page: str) -> list[Image.Image]:
    """Every <img>: a data URI whose bytes Pillow decodes fully (also every GIF frame's size)."""
    out = []
    for src in IMG_SRC.findall(page):
        assert src.startswith("data:image/"), src[:60]
        head, b64 = src.split(",", 1)
        assert head.endswith(";base64"), head
        im = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
        im.load()
        assert im.width > 8 and im.height > 8
        out.append(im)
    return out


def assert_self_contained(page: str) -> None:
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page, re.I), "external URL in the page"
    assert "<script" not in page and "<link" not in page


def assert_numbers_finite(page: str) -> int:
    """Every table cell that is a number is finite; no cell says nan/inf. Returns the count of numeric cells."""
    n = 0
    for cell in CELL.findall(page):
        text = htmllib.unescape(cell).strip()
        assert text.lower() not in ("nan", "inf", "-inf"), text
        try:
            value = float(text.replace(",", ""))
        except ValueError:
            continue
        assert math.isfinite(value), text
        n += 1
    return n


def assert_sections_filled(page: str) -> None:
    """No section is empty (a heading only) and none is a failure note."""
    for key, body in re.findall(r"<section id='([^']+)'><h2>[^<]*</h2>(.*?)</section>", page, re.S):
        assert body.strip(), f"section {key} is empty"
        assert not key.startswith("failed-"), f"section {key} failed: {body[:200]}"
