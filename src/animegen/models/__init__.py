"""Model families. ``MODELS`` is the registry: a plain dict from family name to class."""
from __future__ import annotations

from animegen.models.base import DataSpec, GenerativeModel, SimpleContext, StepContext

MODELS: dict[str, type[GenerativeModel]] = {}

__all__ = ["MODELS", "DataSpec", "GenerativeModel", "SimpleContext", "StepContext", "build_model"]


def build_model(family: str, config, spec: DataSpec) -> GenerativeModel:
    from animegen.errors import ConfigError

    if family not in MODELS:
        raise ConfigError(f"unknown model family '{family}'; choose one of: {', '.join(sorted(MODELS))}")
    return MODELS[family](config, spec)
