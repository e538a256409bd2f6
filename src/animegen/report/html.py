"""A tiny builder for self-contained HTML pages: every image is embedded as a data URI, so the file can be
mailed, attached to an issue or opened offline."""
from __future__ import annotations

import base64
import html
import mimetypes
import os
from pathlib import Path
from typing import Sequence

from animegen.fsutil import atomic_write_text

CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top} figcaption{font-size:.85em;color:#555;max-width:520px}
img{image-rendering:pixelated;border:1px solid #ddd;max-width:100%} table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right} th{background:#f6f6f6} td:first-child,th:first-child{text-align:left}
code,pre{background:#f6f6f6;padding:.1em .3em;border-radius:3px} pre{padding:.6em;overflow:auto} .muted{color:#777}
"""


def data_uri(path: str | os.PathLike) -> str:
    p = Path(path)
    mime = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode('ascii')}"


class Page:
    """Collect sections, then ``write(path)`` one self-contained HTML file (atomically)."""

    def __init__(self, title: str, subtitle: str = ""):
        self.title = title
        self.parts: list[str] = [f"<h1>{html.escape(title)}</h1>"]
        if subtitle:
            self.parts.append(f"<p class='muted'>{html.escape(subtitle)}</p>")

    def heading(self, text: str) -> "Page":
        self.parts.append(f"<h2>{html.escape(text)}</h2>")
        return self

    def text(self, text: str) -> "Page":
        self.parts.append(f"<p>{html.escape(text)}</p>")
        return self

    def code(self, text: str) -> "Page":
        self.parts.append(f"<pre><code>{html.escape(text)}</code></pre>")
        return self

    def image(self, path: str | os.PathLike, caption: str = "", width: int | None = None) -> "Page":
        w = f" width='{width}'" if width else ""
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self.parts.append(f"<figure><img src='{data_uri(path)}' alt='{html.escape(caption)}'{w}>{cap}</figure>")
        return self

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> "Page":
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")
        return self

    def render(self) -> str:
        return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='generator' content='animegen'>"
                f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{html.escape(self.title)}</title>"
                f"<style>{CSS}</style></head><body>{''.join(self.parts)}</body></html>\n")

    def write(self, path: str | os.PathLike) -> Path:
        atomic_write_text(path, self.render())
        return Path(path)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
