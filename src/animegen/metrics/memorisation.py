"""Nearest-neighbour memorisation: are generated samples near-copies of training images?

For each generated sample g, with d₁(g), d₂(g) the distances to its nearest and second-nearest
training images in a feature space (Inception pool3 in ``animegen evaluate``):

* ``ratio(g) = d₁(g) / d₂(g)``; g counts as *memorised* when ``ratio < 1/3`` — it is much closer
  to one training image than to any other (the copy criterion of Yoon et al. 2023, "Diffusion
  probabilistic models generalize when they fail to memorize"; cf. Carlini et al. 2023);
* ``memorised_fraction`` = share of generated samples with ratio < 1/3;
* ``memorised_fraction_real`` = the same for real images held out of (or, leave-one-out, drawn
  from) the training set — the baseline from near-duplicates in the data itself;
* ``nn_distance_ratio`` = median d₁(generated) / median d₁(real baseline): below 1 means
  generated samples sit closer to the training set than fresh real images do (memorisation);
  around or above 1 is normal.
"""
from __future__ import annotations

import numpy as np
import torch

from animegen.metrics.common import check_features

THRESHOLD = 1.0 / 3.0


def _two_nearest(q: torch.Tensor, ref: torch.Tensor, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances d₁, d₂ of each query row to its two nearest rows of ``ref``."""
    d1, d2 = [], []
    for i in range(0, q.shape[0], chunk):
        d = torch.cdist(q[i : i + chunk], ref, compute_mode="use_mm_for_euclid_dist").double()  # [c, N]
        top = torch.topk(d, 2, dim=1, largest=False).values
        d1.append(top[:, 0])
        d2.append(top[:, 1])
    return torch.cat(d1), torch.cat(d2)


def memorisation(fake: np.ndarray, train: np.ndarray, real_holdout: np.ndarray | None = None,
                 threshold: float = THRESHOLD, max_baseline: int = 2000, seed: int = 0) -> dict:
    """Memorisation statistics of generated features against training features (see module doc).

    ``real_holdout``: features of real images not in ``train``; without it the baseline is
    leave-one-out over (up to ``max_baseline``) training images.
    """
    f = torch.as_tensor(check_features(fake, "memorisation (generated)", 1), dtype=torch.float32)
    t = torch.as_tensor(check_features(train, "memorisation (train)", 3), dtype=torch.float32)
    d1, d2 = _two_nearest(f, t)
    ratio = d1 / d2.clamp_min(1e-12)
    if real_holdout is not None and len(real_holdout) >= 1:
        h = torch.as_tensor(check_features(real_holdout, "memorisation (held-out)", 1), dtype=torch.float32)
        b1, b2 = _two_nearest(h, t)
        baseline = "held-out real images vs train"
    else:
        idx = np.random.default_rng(seed).permutation(len(t))[: max_baseline]
        idx.sort()
        # leave-one-out: query train rows against all of train, skipping each row's own entry
        b1s, b2s = [], []
        for i in range(0, len(idx), 1024):
            rows = torch.as_tensor(idx[i : i + 1024])
            d = torch.cdist(t[rows], t, compute_mode="use_mm_for_euclid_dist").double()
            d[torch.arange(len(rows)), rows] = float("inf")
            top = torch.topk(d, 2, dim=1, largest=False).values
            b1s.append(top[:, 0])
            b2s.append(top[:, 1])
        b1, b2 = torch.cat(b1s), torch.cat(b2s)
        baseline = f"leave-one-out over {len(idx)} training images"
    bratio = b1 / b2.clamp_min(1e-12)
    return {
        "memorised_fraction": float((ratio < threshold).double().mean()),
        "memorised_fraction_real": float((bratio < threshold).double().mean()),
        "nn_distance_ratio": float(d1.median() / b1.median().clamp_min(1e-12)),
        "median_ratio": float(ratio.median()),
        "threshold": threshold,
        "n_generated": int(len(f)),
        "n_train": int(len(t)),
        "baseline": baseline,
    }
