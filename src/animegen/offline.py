"""Offline mode: no command reaches the network.

Only one data source can download anything: ``hf:NAME`` with a Hugging Face Hub name (the ``datasets``
library fetches it into its own cache). Everything else (folders, archives, ``hf:LOCAL_FOLDER``,
``synth:``, ``mnist:``, checkpoints, the FID Inception weights) is read from local files only.

Offline mode is on when ``animegen --offline ...`` is given, or ``ANIMEGEN_OFFLINE``, ``HF_HUB_OFFLINE``
or ``HF_DATASETS_OFFLINE`` is set to a true value. :func:`set_offline` then sets the two Hugging Face
variables too, so ``datasets`` serves Hub names from its local cache and refuses every download; the
``hf:`` reader turns that refusal into one ``error:`` line.
"""
from __future__ import annotations

import os
import sys

ENV_VARS = ("ANIMEGEN_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_TRUE = ("1", "true", "yes", "on")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUE


def is_offline() -> bool:
    """True when ``--offline`` was given or one of :data:`ENV_VARS` is set to a true value."""
    return any(_truthy(os.environ.get(v)) for v in ENV_VARS)


def set_offline() -> None:
    """Turn offline mode on for this process and the libraries it loads (even ones already imported)."""
    for var in ENV_VARS:
        os.environ[var] = "1"
    # the Hugging Face libraries read their variables at import time: patch their copies if they are loaded
    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:
        hub.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]
    cfg = sys.modules.get("datasets.config")
    if cfg is not None:
        cfg.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]
        cfg.HF_DATASETS_OFFLINE = True  # type: ignore[attr-defined]


def sync_offline() -> None:
    """If any offline variable is set, set all of them (``HF_DATASETS_OFFLINE`` alone leaves the Hub on)."""
    if is_offline():
        set_offline()
