"""Run the real ``animegen`` CLI in a subprocess with the toy families registered and ``--data random:N[:SIZE]``
served as random uint8 images (for tests that kill or interrupt a training process)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_toys import random_images, register  # noqa: E402

import animegen.data.sources as sources  # noqa: E402

_real_open_source = sources.open_source


def _open_source(spec, size=None, channels=None, quiet=False):
    if str(spec).startswith("random:"):
        parts = str(spec).split(":")
        return random_images(n=int(parts[1]), size=size or 16, channels=channels or 3)
    return _real_open_source(spec, size=size, channels=channels, quiet=quiet)


if __name__ == "__main__":
    register()
    sources.open_source = _open_source
    from animegen.cli.main import main

    main(sys.argv[1:])
