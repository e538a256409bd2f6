"""User-facing errors: the CLI prints these as one line (``error: ...``), never as a traceback."""
from __future__ import annotations


class AnimegenError(Exception):
    """An error caused by the user's input or environment, with a message that says what to do."""


class ConfigError(AnimegenError):
    """A recipe or ``--set`` override that does not fit the typed config."""


class CheckpointError(AnimegenError):
    """A file that is not a readable animegen checkpoint."""


class DataError(AnimegenError):
    """A data source that cannot be read or yields no usable images."""


class MissingDependencyError(AnimegenError):
    """An optional part of animegen is not installed."""

    def __init__(self, what: str, install: str):
        super().__init__(f"{what} needs an optional dependency: {install}")
        self.install = install


def require(module: str, install: str, what: str | None = None):
    """Import an optional module or raise a MissingDependencyError that names the install command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(what or module, install) from exc
