"""Resolve a data source string to an in-memory uint8 image array.

Accepted specs (anywhere a ``--data``/``DATASET`` argument is taken):

=====================  =========================================================================
``synth:N``            N built-in procedural faces (``synth:N:SEED``; ``synth:N:SEED:correlate``)
``mnist:DIR``          MNIST IDX files in DIR (``mnist:DIR:test`` for the t10k split)
``hf:NAME``            a Hugging Face ``datasets`` name or local imagefolder (prepared and cached)
``PATH``               a prepared dataset folder (``manifest.json`` + ``images.npy``), or a raw
                       image folder / .zip / .tar(.gz) of face crops (prepared and cached)
=====================  =========================================================================
"""
from __future__ import annotations

from pathlib import Path

from animegen.data.imageset import ImageSet
from animegen.data.imageset import convert as _convert
from animegen.errors import DataError

__all__ = ["ImageSet", "open_source"]


def open_source(spec: str, size: int | None = None, channels: int | None = None, quiet: bool = False) -> ImageSet:
    """Load the images named by ``spec`` (see module doc), resized/converted to ``size``/``channels``."""
    spec = str(spec).strip()
    if not spec:
        raise DataError("empty data source; pass a folder, a prepared dataset, synth:N or mnist:DIR")
    scheme, _, rest = spec.partition(":")
    if scheme == "synth":
        from animegen.data.synthetic import open_synthetic

        ds = open_synthetic(rest, size=size or 64)
    elif scheme == "mnist":
        from animegen.data.mnist import open_mnist

        ds = open_mnist(rest)
    elif scheme == "hf":
        from animegen.data.prepare import open_or_prepare

        ds = open_or_prepare(spec, size=size or 64, quiet=quiet)
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise DataError(f"data source not found: {spec} (expected a folder, archive, synth:N or mnist:DIR)")
        from animegen.data.synth_folder import is_synth_dir, open_synth_dir

        synth = open_synth_dir(path) if path.is_dir() else None
        if synth is not None:  # a folder `animegen synth` wrote: its faces, with their labels
            ds = synth
        elif path.is_dir() and (path / "manifest.json").is_file() and not is_synth_dir(path):
            from animegen.data.prepared import load_prepared

            ds = load_prepared(path)
        else:
            from animegen.data.prepare import open_or_prepare

            ds = open_or_prepare(spec, size=size or 64, quiet=quiet)
    return _convert(ds, size, channels)
