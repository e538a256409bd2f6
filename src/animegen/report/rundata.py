"""Everything a report reads from one run folder, loaded once: config, metric log, evaluation, grids, model."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from animegen.errors import AnimegenError
from animegen.runs import CONFIG, METRICS, PREFERRED, last_step, read_metrics

STEP_FILE = re.compile(r"^step-(\d+)\.png$")
FACES = 256
"""Training faces a report loads for the sections that need some (interpolation, blend, perturbation, latent stats)."""


class NotARunFolder(AnimegenError):
    """The path given to ``animegen report`` is not a training run folder."""


def _read_json(path: Path) -> dict | None:
    from animegen.fsutil import read_json_limited

    try:
        data = read_json_limited(path)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _step_files(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := STEP_FILE.match(p.name)))


@dataclass
class RunData:
    """A run folder as the report sections see it. ``real_images`` (optional, ``[N, C, H, W]`` in [-1, 1]):
    faces a caller already holds (the demo), used for the interpolation of models with an encoder."""

    path: Path
    config: dict
    records: list[dict]
    evaluation: dict | None = None
    real_images: Any = None
    sections: dict = field(default_factory=dict, repr=False)
    """Sections already drawn for this run, by section function (a demo page and the run's report share them)."""
    _model: Any = field(default=None, repr=False)
    _faces_tried: bool = field(default=False, repr=False)
    _codes: Any = field(default=None, repr=False)

    @classmethod
    def load(cls, run_dir: str | Path) -> RunData:
        path = Path(run_dir)
        if not path.is_dir():
            raise NotARunFolder(f"{path} is not a folder; pass a run folder (e.g. runs/vae-1)")
        config = _read_json(path / CONFIG)
        if config is None or not (path / METRICS).is_file():
            raise NotARunFolder(f"{path} is not an animegen run folder (no readable config.json and metrics.jsonl)")
        return cls(path=path, config=config, records=read_metrics(path), evaluation=_read_json(path / "metrics.json"))

    # ---- identity
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def family(self) -> str:
        return str(self.config.get("family", "?"))

    # ---- the metric log
    def series(self, key: str) -> tuple[list[float], list[float]]:
        """(steps, values) of every finite logged value of ``key``."""
        xs, ys = [], []
        for r in self.records:
            v = r.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v):
                xs.append(float(r["step"]))
                ys.append(float(v))
        return xs, ys

    def keys(self, prefix: str) -> list[str]:
        """Logged scalar keys starting with ``prefix``, in first-seen order."""
        seen: dict[str, None] = {}
        for r in self.records:
            for k, v in r.items():
                if k.startswith(prefix) and isinstance(v, (int, float)):
                    seen.setdefault(k)
        return list(seen)

    def events(self, name: str) -> list[dict]:
        return [r for r in self.records if r.get("event") == name]

    @property
    def last_step(self) -> int:
        return last_step(self.records)

    # ---- pictures the trainer wrote
    @property
    def sample_grids(self) -> list[tuple[int, Path]]:
        return _step_files(self.path / "samples")

    @property
    def recon_grids(self) -> list[tuple[int, Path]]:
        return _step_files(self.path / "recon")

    # ---- the exported model
    @property
    def checkpoint(self) -> Path | None:
        return next((self.path / c for c in PREFERRED if (self.path / c).is_file()), None)

    def model(self):
        """The model the run folder stands for (``runs.PREFERRED``: final, else best, else last), loaded once;
        None when the run has none."""
        if self._model is None and self.checkpoint is not None:
            from animegen.checkpoint import load_model

            self._model = load_model(self.checkpoint)
        return self._model

    def faces(self):
        """Up to :data:`FACES` training faces ``[N, C, H, W]`` in [-1, 1]: the caller's ``real_images``, else read
        from the run's data source (a fixed random subset); None when the source is not readable here."""
        if self.real_images is None and not self._faces_tried:
            self._faces_tried = True
            data = self.config.get("data") or {}
            try:
                import numpy as np
                import torch

                from animegen.data.sources import open_source
                from animegen.imaging import to_tensor

                ds = open_source(str(data["source"]), size=int(data["size"]), channels=int(data["channels"]),
                                 quiet=True)
                idx = np.sort(torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:FACES].numpy())
                self.real_images = to_tensor(np.asarray(ds.images[idx]))  # [N, C, H, W]
            except (AnimegenError, OSError, KeyError, TypeError, ValueError):
                return None
        return self.real_images

    def face_codes(self):
        """The exported model's codes ``[N, D]`` (float32, CPU) of :meth:`faces`, encoded once; None when the model
        has no encoder or no faces are at hand."""
        if self._codes is None:
            model, faces = self.model(), self.faces()
            if model is None or not model.has_encoder or faces is None:
                return None
            import torch

            with torch.no_grad():
                self._codes = model.encode(faces.to(next(model.parameters()).device)).float().cpu()  # [N, D]
        return self._codes
