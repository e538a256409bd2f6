"""Evaluation metrics, offline: features → statistics → metric, each step a pure function.

=======================  ===================================================================
``inception``            FID InceptionV3 features (pool3 2048-d, 1008-way logits); the network, its fast
                         form and the weights checks are in ``inception_net/_fast/_weights``
``fid``                  feature_statistics, frechet_distance, fid_from_features
``kid``                  kid (polynomial-kernel unbiased MMD², subsets)
``inception_score``      inception_score (10 splits)
``prdc``                 precision/recall (Kynkäänniemi et al. 2019), density/coverage
``recon``                mse, psnr, ssim, reconstruction_metrics (AE/VAE)
``diversity``            mean pairwise distance; cheap pixel / random-conv variants
``sharpness``            variance of the Laplacian
``detection``            face-detection pass rate
``memorisation``         nearest-neighbour copy ratio
``refstats``             cached real-image reference features/statistics
``evaluate``             everything for a model → one report dict (``animegen evaluate``)
``compare``              a table across runs (``animegen compare``)
``api``                  quick_kid, quick_fid, diversity_score on small subsets (scripts, notebooks)
=======================  ===================================================================

Importing this package is cheap: submodules load on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "fid_from_features": "animegen.metrics.fid",
    "frechet_distance": "animegen.metrics.fid",
    "feature_statistics": "animegen.metrics.fid",
    "kid": "animegen.metrics.kid",
    "inception_score": "animegen.metrics.inception_score",
    "prdc": "animegen.metrics.prdc",
    "precision_recall": "animegen.metrics.prdc",
    "ssim": "animegen.metrics.recon",
    "psnr": "animegen.metrics.recon",
    "diversity_score": "animegen.metrics.diversity",
    "sharpness": "animegen.metrics.sharpness",
    "quick_kid": "animegen.metrics.api",
    "quick_fid": "animegen.metrics.api",
    "inception_available": "animegen.metrics.api",
    "InceptionFeatures": "animegen.metrics.inception",
    "describe_weights": "animegen.metrics.inception",
    "MetricError": "animegen.metrics.common",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'animegen.metrics' has no attribute {name!r}")
