"""What each studio control does, as plain methods of :class:`Studio` (no gradio: the tests call them directly).

Every method takes the caller's :class:`~animegen.studio.session.Session` (None for a new one) and returns it
with what the page shows: uint8 ``[H, W, 3]`` pictures (enlarged for the screen), file paths of downloads, and
plain dicts of numbers. User mistakes raise :class:`~animegen.errors.AnimegenError` subclasses with one line.

Faces for Morph, Blend and Edit come from a *source*: ``seed`` (``seed:N`` of the model's prior), ``picked``
(the face picked last in Generate or Inspect) or ``upload`` (an uploaded image, checked by
:mod:`animegen.studio.uploads` and encoded, or inverted for a GAN).
"""
from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from animegen.studio.catalog import Catalog
from animegen.studio.engine import Engine, StudioInputError
from animegen.studio.reference import REFERENCE_SIZE
from animegen.studio.session import EngineCache, Session
from animegen.studio.uploads import read_upload

SOURCES = ("seed", "picked", "upload")
SCREEN = 64
"""Pictures go to the browser at the model's size, enlarged by a whole factor only when smaller than this (the page
enlarges them with crisp pixels: small PNGs keep every reply cheap). Downloads (GIF/MP4) are enlarged here."""
GIF_SIZE = 128
GIF_FPS = 12
MAX_MEDIA = 40
"""Morph downloads kept in the media folder."""


def show(image: np.ndarray, size: int = SCREEN) -> np.ndarray:
    """uint8 ``[H, W, C]`` or ``[1, H, W, C]`` → RGB ``[H·f, W·f, 3]`` with the largest integer f keeping ≤ size
    (f = 1 when the picture is already that big)."""
    from animegen.imaging import upscale_nearest

    a = image[0] if image.ndim == 4 else image
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return upscale_nearest(np.ascontiguousarray(a), max(1, size // max(a.shape[:2])))


class Studio:
    """The server-side state of one ``animegen studio``: the catalogue, loaded models and a folder for downloads."""

    def __init__(self, catalog: Catalog, upload_roots: Iterable[str | os.PathLike] | None = None,
                 media_dir: str | os.PathLike | None = None, reference_size: int = REFERENCE_SIZE):
        self.catalog = catalog
        self.cache = EngineCache(catalog, reference_size=reference_size)
        self.upload_roots = [Path(r) for r in upload_roots] if upload_roots is not None else None
        self.media_dir = Path(media_dir) if media_dir else Path(tempfile.mkdtemp(prefix="animegen-studio-"))

    # ---- sessions ----------------------------------------------------------------------------------
    def session(self, sess: Session | None) -> Session:
        return sess if isinstance(sess, Session) else self.cache.new_session()

    def engine(self, sess: Session) -> Engine:
        return self.cache.get(sess.label)

    def info(self, sess: Session | None) -> tuple[Session, str]:
        sess = self.session(sess)
        return sess, self.engine(sess).describe()

    def switch(self, sess: Session | None, label: object) -> tuple[Session, str]:
        """Open another checkpoint of the catalogue (only listed labels are accepted)."""
        sess = self.session(sess)
        eng = self.cache.get(label)  # validates the label before anything else
        sess.switch(eng.label)
        return sess, eng.describe()

    def slider_names(self, sess: Session | None) -> tuple[Session, list[str]]:
        """The Edit sliders of the session's model (builds its reference set on first use)."""
        sess = self.session(sess)
        return sess, [a.name for a in self.engine(sess).axes()]

    # ---- faces from sources --------------------------------------------------------------------------
    def upload_image(self, upload: Any) -> np.ndarray:
        if upload is None or upload == "":
            raise StudioInputError("no file uploaded")
        path = upload.get("path") if isinstance(upload, dict) else getattr(upload, "path", upload)
        if not isinstance(path, (str, os.PathLike)):
            raise StudioInputError("upload refused: expected an uploaded file")
        return read_upload(path, self.upload_roots)

    def face(self, sess: Session, source: Any, seed: Any = 0, upload: Any = None) -> tuple[Tensor, str]:
        """A code ``[D]`` and a caption for one face source (module doc)."""
        eng = self.engine(sess)
        if source == "seed":
            z = eng.seed_code(seed)
            return z, f"seed:{int(float(seed))}"
        if source == "picked":
            return eng.check_code(sess.require_picked()), sess.picked_label or "picked"
        if source == "upload":
            z, _, _ = eng.encode_image(self.upload_image(upload))
            return z, "upload"
        raise StudioInputError(f"face source must be one of {', '.join(SOURCES)}, got {source!r}")

    # ---- Generate ----------------------------------------------------------------------------------
    def generate(self, sess: Session | None, seed: Any, count: Any, truncation: Any = 0.0,
                 prior: str = "best") -> tuple[Session, list[np.ndarray]]:
        sess = self.session(sess)
        eng = self.engine(sess)
        z = eng.sample_codes(seed, count, truncation, prior)
        sess.shown = z
        return sess, [show(f) for f in eng.decode(z)]

    def pick(self, sess: Session | None, index: Any, grid: str = "shown") -> tuple[Session, np.ndarray, str]:
        """Pick face ``index`` of the Generate gallery (``grid="shown"``) or of the variations."""
        sess = self.session(sess)
        codes = sess.shown if grid == "shown" else sess.variations
        if codes is None:
            raise StudioInputError("nothing to pick from yet: generate faces first")
        if isinstance(index, (list, tuple)):
            index = index[0] if index else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(codes):
            raise StudioInputError(f"no face number {index!r} in the grid (0..{len(codes) - 1})")
        label = f"{'generated' if grid == 'shown' else 'variation'} #{index}"
        sess.pick(codes[index], label)
        return sess, show(self.engine(sess).decode(codes[index][None])), f"picked: {label}"

    def variations(self, sess: Session | None, seed: Any = 0,
                   per_level: Any = None) -> tuple[Session, list[tuple[np.ndarray, str]]]:
        """"More like this": rows of variations around the picked face, coarse to fine."""
        from animegen.studio.engine import LEVELS, PER_LEVEL

        sess = self.session(sess)
        eng = self.engine(sess)
        images, codes = eng.variations(sess.require_picked(), per_level or PER_LEVEL, seed)
        sess.variations = codes
        n = len(images) // len(LEVELS)
        captions = [f"{'coarse' if r == 0 else 'fine' if r == len(LEVELS) - 1 else 'medium'} ({LEVELS[r]:g} sd)"
                    for r in range(len(LEVELS)) for _ in range(n)]
        return sess, [(show(f), c) for f, c in zip(images, captions, strict=True)]

    # ---- Morph, Blend --------------------------------------------------------------------------------
    def morph(self, sess: Session | None, a: Sequence[Any], b: Sequence[Any], frames: Any = 16,
              slerp: bool = True, mp4: bool = False) -> tuple[Session, np.ndarray, str, str | None, dict]:
        """Frames from face A to face B (each ``(source, seed, upload)``): a strip, a GIF (and an MP4)."""
        from animegen.imaging import make_grid, save_gif, save_mp4

        sess = self.session(sess)
        za, la = self.face(sess, *a)
        zb, lb = self.face(sess, *b)
        path = self.engine(sess).morph(za, zb, frames, bool(slerp))
        strip = make_grid(path.frames, nrow=min(len(path.frames), 8), padding=1)
        self._prune()
        stem = self.media_dir / f"morph-{uuid.uuid4().hex[:12]}"
        big = [show(f, GIF_SIZE) for f in self._uint8(path.frames)]
        save_gif(big, stem.with_suffix(".gif"), fps=GIF_FPS, boomerang=True)
        video = None
        if mp4:
            save_mp4(big, stem.with_suffix(".mp4"), fps=GIF_FPS)
            video = str(stem.with_suffix(".mp4"))
        numbers = {"from": la, "to": lb, **{k: v for k, v in path.numbers().items()
                                             if k not in ("step_distance", "frame_change")}}
        return sess, show(strip), str(stem.with_suffix(".gif")), video, numbers

    def blend(self, sess: Session | None, faces: Sequence[Sequence[Any]],
              weights: Sequence[Any]) -> tuple[Session, np.ndarray, np.ndarray, dict]:
        """Mix 2–4 faces (each ``(source, seed, upload)``); returns the blend and the inputs' own decodings."""
        from animegen.imaging import make_grid

        sess = self.session(sess)
        used = [(f, w) for f, w in zip(faces, weights, strict=True) if f is not None and f[0] != "none"]
        codes, labels = [], []
        for f, _ in used:
            z, label = self.face(sess, *f)
            codes.append(z)
            labels.append(label)
        res = self.engine(sess).blend(codes, [w for _, w in used])
        inputs = make_grid(res.inputs, nrow=len(codes), padding=1)
        stack = Tensor(np.stack([c.numpy() for c in codes]))
        numbers = {"inputs": labels, "notes": res.notes, **res.numbers(stack)}
        return sess, show(self._uint8(res.image)), show(inputs), numbers

    # ---- Edit ------------------------------------------------------------------------------------
    def edit_base(self, sess: Session | None, source: Any, seed: Any = 0,
                  upload: Any = None) -> tuple[Session, np.ndarray]:
        sess = self.session(sess)
        z, _ = self.face(sess, source, seed, upload)
        sess.edit_base = z
        return sess, show(self.engine(sess).decode(z[None]))

    def edit(self, sess: Session | None, values: Sequence[Any]) -> tuple[Session, np.ndarray]:
        """The edit face for slider values (in the order of :meth:`slider_names`)."""
        sess = self.session(sess)
        eng = self.engine(sess)
        if sess.edit_base is None:
            sess.edit_base = eng.seed_code(0)
        return sess, show(eng.edit(sess.edit_base, list(values)))

    # ---- Inspect -----------------------------------------------------------------------------------
    def inspect(self, sess: Session | None, upload: Any) -> tuple[Session, np.ndarray, np.ndarray,
                                                                  list[tuple[np.ndarray, str]], dict]:
        """Reconstruction, code statistics and nearest reference faces of an upload; the upload becomes the pick."""
        sess = self.session(sess)
        eng = self.engine(sess)
        res = eng.inspect(self.upload_image(upload))
        sess.pick(res.z, "inspected upload")
        near = [(show(f), f"d = {d:.3g}") for f, d in zip(res.neighbors, res.neighbor_distances,
                                                                         strict=True)]
        return sess, show(res.input), show(res.reconstruction), near, {**res.stats, "notes": res.notes}

    def _prune(self, keep: int = MAX_MEDIA) -> None:
        """Keep the newest ``keep`` downloads in the media folder (the web server holds its own copies)."""
        files = sorted(self.media_dir.glob("morph-*"), key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - keep)]:
            old.unlink(missing_ok=True)

    @staticmethod
    def _uint8(frames: Tensor) -> np.ndarray:
        from animegen.imaging import to_uint8

        return to_uint8(frames)
