"""A tiny builder for self-contained HTML pages: every image is embedded as a data URI, so the file can be
mailed, attached to an issue or opened offline (no script, no font, no stylesheet is fetched)."""
from __future__ import annotations

import base64
import html
import mimetypes
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from animegen.fsutil import atomic_write_text

CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;max-width:1120px;margin:2em auto;padding:0 1em;
color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}
figcaption{font-size:.85em;color:#555;max-width:520px}
img{image-rendering:pixelated;border:1px solid #ddd;max-width:100%} img.plot{image-rendering:auto;border:0}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right} th{background:#f6f6f6}
td:first-child,th:first-child{text-align:left}
code,pre{background:#f6f6f6;padding:.1em .3em;border-radius:3px} pre{padding:.6em;overflow:auto;max-height:30em}
.muted{color:#777}
nav{font-size:.9em;color:#555} nav a{margin-right:.8em;color:#36c;text-decoration:none}
.warn{color:#a40}
"""


def data_uri(path: str | os.PathLike) -> str:
    p = Path(path)
    mime = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
    return bytes_uri(p.read_bytes(), mime)


def bytes_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _sniff(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"GIF8":
        return "image/gif"
    if data[:2] == b"\xff\xd8":
        return "image/jpeg"
    raise ValueError("embedded images must be PNG, GIF or JPEG bytes")


B = TypeVar("B", bound="Blocks")


class Blocks:
    """HTML building blocks shared by :class:`Page` and :class:`Section` (each appends to ``self.parts``)."""

    parts: list[str]

    def text(self: B, text: str, cls: str = "") -> B:
        c = f" class='{cls}'" if cls else ""
        self.parts.append(f"<p{c}>{html.escape(text)}</p>")
        return self

    def code(self: B, text: str) -> B:
        self.parts.append(f"<pre><code>{html.escape(text)}</code></pre>")
        return self

    def image(self: B, image: str | os.PathLike | bytes, caption: str = "", width: int | None = None,
              plot: bool = False) -> B:
        """An embedded image: a file path, or PNG/GIF/JPEG bytes. ``plot``: smooth scaling (charts)."""
        src = bytes_uri(image, _sniff(image)) if isinstance(image, bytes) else data_uri(image)
        w = f" width='{width}'" if width else ""
        cls = " class='plot'" if plot else ""
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self.parts.append(f"<figure><img src='{src}' alt='{html.escape(caption)}'{w}{cls}>{cap}</figure>")
        return self

    def table(self: B, header: Sequence[str], rows: Sequence[Sequence[object]]) -> B:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")
        return self


@dataclass
class Section(Blocks):
    """One titled part of a page (``<section id=key>``); section functions return these."""

    title: str
    key: str = ""
    parts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = self.key or re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")

    def render(self) -> str:
        return (f"<section id='{html.escape(self.key)}'><h2>{html.escape(self.title)}</h2>"
                f"{''.join(self.parts)}</section>")


class Page(Blocks):
    """Collect sections, then ``write(path)`` one self-contained HTML file (atomically)."""

    def __init__(self, title: str, subtitle: str = ""):
        self.title = title
        self.parts: list[str] = [f"<h1>{html.escape(title)}</h1>"]
        self.sections: list[Section] = []
        if subtitle:
            self.parts.append(f"<p class='muted'>{html.escape(subtitle)}</p>")
        self._n_head = len(self.parts)

    def heading(self, text: str) -> Page:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")
        return self

    def add(self, section: Section | None) -> Page:
        """Append a section (``None``, a section that does not apply, is skipped); listed in the page's nav."""
        if section is not None:
            self.sections.append(section)
            self.parts.append(section.render())
        return self

    def render(self) -> str:
        nav = ""
        if len(self.sections) > 1:
            links = "".join(f"<a href='#{html.escape(s.key)}'>{html.escape(s.title)}</a>" for s in self.sections)
            nav = f"<nav>{links}</nav>"
        head, body = self.parts[:self._n_head], self.parts[self._n_head:]
        return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='generator' content='animegen'>"
                "<meta name='viewport' content='width=device-width,initial-scale=1'>"
                f"<title>{html.escape(self.title)}</title>"
                f"<style>{CSS}</style></head><body>{''.join(head)}{nav}{''.join(body)}</body></html>\n")

    def write(self, path: str | os.PathLike) -> Path:
        atomic_write_text(path, self.render())
        return Path(path)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
