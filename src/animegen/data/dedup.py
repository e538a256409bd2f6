"""Near-duplicate detection with a 64-bit difference hash (dHash) and a Hamming-distance threshold.

dHash (Krawetz 2013): shrink to 9×8 gray, one bit per horizontal neighbour pair (left < right).
On the 16,052 real 64 px faces, pairs at distance 0–3 are the same picture (re-encoded, or the same
portrait with a small change); from 4 on they are increasingly different characters, so the default
threshold is 3. Lookup is exact and fast by multi-index hashing: with threshold t the hash is cut into
t + 1 bands, and any two hashes within distance t agree exactly on at least one band.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

DEFAULT_THRESHOLD = 3


def dhash(image: np.ndarray) -> int:
    """64-bit dHash of a uint8 ``[H, W, C]`` or ``[H, W]`` image."""
    im = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    g = np.asarray(im.convert("L").resize((9, 8), Image.Resampling.BOX), dtype=np.int16)  # [8, 9]
    bits = (g[:, 1:] > g[:, :-1]).ravel()  # [64]
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


class NearDuplicateIndex:
    """Hashes seen so far; :meth:`match` finds one within ``threshold`` bits (first added wins)."""

    def __init__(self, threshold: int = DEFAULT_THRESHOLD):
        if not 0 <= threshold < 64:
            raise ValueError(f"dedup threshold must be in 0..63, got {threshold}")
        self.threshold = threshold
        n = threshold + 1
        edges = np.linspace(0, 64, n + 1).round().astype(int)
        self._bands = [(int(a), (1 << int(b - a)) - 1) for a, b in zip(edges[:-1], edges[1:], strict=False)]
        self._tables: list[dict[int, list[int]]] = [{} for _ in self._bands]
        self._hashes: list[int] = []
        self._ids: list[int] = []

    def __len__(self) -> int:
        return len(self._hashes)

    def match(self, h: int) -> tuple[int, int] | None:
        """``(id, distance)`` of the first added hash within the threshold, or None."""
        best = None
        for (shift, mask), table in zip(self._bands, self._tables, strict=False):
            for k in table.get((h >> shift) & mask, ()):
                d = (self._hashes[k] ^ h).bit_count()
                if d <= self.threshold and (best is None or k < best[0]):
                    best = (k, d)
        return None if best is None else (self._ids[best[0]], best[1])

    def add(self, h: int, ident: int) -> None:
        k = len(self._hashes)
        self._hashes.append(h)
        self._ids.append(ident)
        for (shift, mask), table in zip(self._bands, self._tables, strict=False):
            table.setdefault((h >> shift) & mask, []).append(k)
