"""Inception Score (Salimans et al. 2016, "Improved techniques for training GANs").

``IS = exp(E_x KL(p(y|x) ‖ p(y)))`` over the 1008-way softmax of the Inception classifier,
computed on ``splits`` consecutive parts of the samples (10 in the original code), reported as
mean ± std over the parts. The part boundaries are ``[i·N // splits, (i+1)·N // splits)`` as in the
original implementation; the logits are the unbiased ones (``pool3 @ Wᵀ``, no bias), as there.

Weights: the classifier this needs is in pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (or
StyleGAN's ``inception-2015-12-05.pt``), which the install does not ship; without it ``evaluate``
reports IS as unavailable and says how to supply the file (``--inception PATH``).

Note: IS measures ImageNet-class confidence and variety; for anime faces it is weakly related to
quality (it ignores the real data entirely). Compare it only between models on the same data.
"""
from __future__ import annotations

import numpy as np

from animegen.metrics.common import MetricError, check_features


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def inception_score(logits: np.ndarray | None = None, probs: np.ndarray | None = None,
                    splits: int = 10) -> tuple[float, float]:
    """(mean, std) of the Inception Score from logits ``[N, C]`` (or probabilities ``[N, C]``)."""
    if (logits is None) == (probs is None):
        raise ValueError("pass exactly one of logits or probs")
    p = (
        softmax(check_features(logits, "IS"))
        if logits is not None
        else np.asarray(check_features(probs, "IS"), np.float64)
    )
    n = p.shape[0]
    if n < splits:
        raise MetricError(f"IS: {n} samples is fewer than the {splits} splits")
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        py = part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(py)), 0.0).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
