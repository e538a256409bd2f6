"""The held-out images in two halves: a *validation* half for choices and a *test* half for reported numbers.

A dataset's held-out split (``val``: the prepared dataset's own split, else the trainer's seeded
``data.val_fraction`` share, see :func:`animegen.train.data.split_indices`) is never trained on. Using
the same images to choose (a recipe, a checkpoint, the ``best`` step of a run) and to report would make
the reported number optimistic, so the held-out indices are cut into two fixed halves:

* ``valid``: periodic quick KID/FID during training (``train.eval_kid``), ``best.safetensors``, and any
  recipe or hyper-parameter choice;
* ``test``: the numbers in BENCHMARKS.md and the budget curve, scored once per model and budget.

The cut is a pure function of the held-out indices: a permutation by ``numpy.random.default_rng([seed,
HALVES_SALT])`` of the sorted indices, its first ``ceil(m / 2)`` entries the validation half, the rest the
test half (both returned sorted). With a single held-out image the test half is empty.
"""
from __future__ import annotations

import numpy as np

HALVES_SALT = 0x7E57
SPLITS = ("all", "train", "val", "valid", "test")
"""Split names understood by :func:`animegen.metrics.refstats.split_images`: ``val`` = ``valid`` ∪ ``test``."""


def heldout_halves(val_idx: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(validation half, test half) of the held-out indices ``val_idx`` (see the module doc)."""
    v = np.sort(np.asarray(val_idx, dtype=np.int64))
    perm = np.random.default_rng([int(seed), HALVES_SALT]).permutation(len(v))
    n_valid = (len(v) + 1) // 2
    return np.sort(v[perm[:n_valid]]), np.sort(v[perm[n_valid:]])
