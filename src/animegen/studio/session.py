"""Per-browser-session state and the shared cache of loaded models.

A :class:`Session` holds only codes (small tensors) and the label of the checkpoint they belong to; the models
live once per server in an :class:`EngineCache`, keyed by catalogue label (never by a path from a request).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from torch import Tensor

from animegen.studio.catalog import Catalog
from animegen.studio.engine import Engine, StudioInputError
from animegen.studio.reference import REFERENCE_SIZE

MAX_LOADED = 2
"""Models kept in memory at once (least recently used ones are dropped)."""


@dataclass
class Session:
    """What one browser tab has on screen."""

    label: str
    shown: Tensor | None = None  # [n, D] codes of the faces in the Generate gallery
    variations: Tensor | None = None  # [m, D] codes of the variation grid
    picked: Tensor | None = None  # [D] the face picked last (Generate, variations, Inspect)
    picked_label: str = ""
    edit_base: Tensor | None = None  # [D] the face the Edit sliders move

    def pick(self, z: Tensor, label: str) -> None:
        self.picked = z.detach().float().clone()
        self.picked_label = label

    def switch(self, label: str) -> None:
        """Another checkpoint: codes of the old one mean nothing to it."""
        self.label = label
        self.shown = self.variations = self.picked = self.edit_base = None
        self.picked_label = ""

    def require_picked(self) -> Tensor:
        if self.picked is None:
            raise StudioInputError("pick a face first (click one in Generate, or inspect an upload)")
        return self.picked


class EngineCache:
    """Loaded models by catalogue label (at most :data:`MAX_LOADED`), loaded once even under concurrent requests."""

    def __init__(self, catalog: Catalog, max_loaded: int = MAX_LOADED, reference_size: int = REFERENCE_SIZE):
        self.catalog = catalog
        self.reference_size = reference_size
        self.max_loaded = max(1, int(max_loaded))
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, label: object) -> Engine:
        path = self.catalog.path(label)  # UnknownCheckpoint for anything not listed
        assert isinstance(label, str)
        with self._lock:
            eng = self._engines.get(label)
            if eng is None:
                eng = Engine.load(path, label, self.reference_size)
                self._engines[label] = eng
                while len(self._engines) > self.max_loaded:
                    self._engines.popitem(last=False)
            self._engines.move_to_end(label)
            return eng

    def new_session(self) -> Session:
        return Session(self.catalog.default)
