"""Shared pieces of the studio tests: a tiny VAE checkpoint in a run folder and hostile upload files."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from animegen.checkpoint import save_model
from animegen.models import MODELS, DataSpec

REFERENCE = 64
"""Reference faces per tiny model (the app's default is larger; tests stay CPU-cheap)."""


def tiny_vae(size: int = 16, latent: int = 8, seed: int = 0):
    """An untrained VAE small enough for any test, with BatchNorm statistics of its own outputs."""
    torch.manual_seed(seed)
    cls = MODELS["vae"]
    model = cls(cls.config_cls(latent_dim=latent, widths=(8, 8, 8, 8)), DataSpec(3, size))
    model.train()
    with torch.no_grad():
        for _ in range(10):
            model.encode(model.decode(torch.randn(16, latent)))
    return model.eval()


def make_run(folder: Path, seed: int = 0, name: str = "final.safetensors") -> Path:
    """A run folder holding one tiny VAE checkpoint; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    save_model(folder / name, tiny_vae(seed=seed))
    return folder


def png_bytes(w: int = 40, h: int = 30, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(side: int = 20000) -> bytes:
    """A complete, valid 1-bit PNG of side × side pixels (a few tens of KB: a decompression bomb)."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    parts = [comp.compress(row) for _ in range(side)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def truncated_png() -> bytes:
    data = png_bytes(64, 64)
    return data[: len(data) // 2]


def bad_files(folder: Path) -> dict[str, Path]:
    """The hostile uploads every endpoint must refuse with a message: not an image, 20000×20000, truncated."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"not-an-image": (folder / "notes.png", b"this is plain text, not a picture\n" * 4),
             "huge": (folder / "huge.png", huge_png()),
             "truncated": (folder / "cut.png", truncated_png())}
    for path, data in files.values():
        path.write_bytes(data)
    return {k: p for k, (p, _) in files.items()}
