"""Measurements shared by the kl-balance, gan-vs-vae, dcgan-seed002 and mnist experiments.

Each function takes a trained model (or its run folder) and images, and returns plain JSON values:
samples as uint8, FID/KID when the Inception weights are present (``None`` with the reason otherwise),
sharpness and diversity against the real images, active latent units, latent-path continuity, and
training-stability numbers read from a run's ``metrics.jsonl``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from animegen.imaging import to_tensor, to_uint8

ACTIVE_UNIT_THRESHOLD = 0.01
"""A latent unit is active when Cov_x(E_q[z_u | x]) exceeds this (Burda et al. 2016, §5.2)."""


def load_run(run_dir: str | Path):
    """The exported model of a run folder (``final.safetensors``), in eval mode."""
    import animegen

    model = animegen.load(Path(run_dir) / "final.safetensors")
    model.eval()
    return model


@torch.no_grad()
def samples_uint8(model, n: int, seed: int = 0, batch_size: int = 128, prior: str = "standard") -> np.ndarray:
    """``n`` prior samples as uint8 ``[n, H, W, C]`` (seeded; the standard-normal prior for every family)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, n, batch_size):
        out.append(to_uint8(model.sample(min(batch_size, n - i), generator=gen, prior=prior)))  # [b, H, W, C]
    return np.concatenate(out)


@torch.no_grad()
def reconstructions_uint8(model, images: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Posterior-mean reconstructions of uint8 ``[N, H, W, C]`` images, as uint8."""
    out = [to_uint8(model.reconstruct(to_tensor(images[i : i + batch_size])))  # [b, H, W, C]
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out)


def finite(x: Any) -> float | None:
    """``float(x)`` rounded to 6 significant digits, or None when it is not finite."""
    v = float(x)
    return float(f"{v:.6g}") if math.isfinite(v) else None


def inception_status(inception: str | None = None) -> str | None:
    """None when FID Inception weights are present, else the reason FID/KID cannot be measured."""
    from animegen.metrics.inception import InceptionWeightsError, find_weights

    try:
        find_weights(inception)
        return None
    except InceptionWeightsError as exc:
        return f"FID/KID unavailable: {str(exc).splitlines()[0]}"


def fid_kid(real: np.ndarray, fake: np.ndarray, inception: str | None = None) -> dict[str, Any]:
    """FID and KID (pool3, fp32, pytorch-fid protocol) between all of ``real`` and ``fake``; FID is biased
    upwards at small N, so compare only numbers measured at the same N."""
    from animegen.metrics.api import quick_fid

    r = quick_fid(real, fake, n=None, inception=inception)
    return {"fid": finite(r["fid"]), "kid": finite(r["kid"]), "kid_std": finite(r["kid_std"]),
            "n_real": int(r["n_real"]), "n_fake": int(r["n_fake"])}


def inception_score_of(fake: np.ndarray, inception: str | None) -> dict[str, Any]:
    """Inception Score (Salimans et al. 2016) of ``fake`` when ``inception`` is a weights file with the 1008-way
    classifier; otherwise ``{"is": None, "why": ...}`` (the bundled FID network has no logits)."""
    if not inception:
        return {"is": None, "why": "IS unavailable: needs the full Inception weights with the classifier "
                                   "(pt_inception-2015-12-05-6726825d.pth), given with --inception PATH"}
    from animegen.metrics.inception import get_extractor
    from animegen.metrics.inception_score import inception_score

    ext = get_extractor(inception)
    if not ext.has_logits:
        return {"is": None, "why": f"IS unavailable: {Path(inception).name} has no classifier (1008-way logits)"}
    logits = ext.extract(fake, logits=True, desc="inception (IS)").logits
    mean, std = inception_score(logits=logits, splits=min(10, len(fake)))
    return {"is": finite(mean), "is_std": finite(std), "n": len(fake)}


def sharpness_diversity(images: np.ndarray, real: np.ndarray) -> dict[str, Any]:
    """Variance-of-Laplacian sharpness and random-conv diversity of ``images``, each also as a ratio to ``real``
    (1 = like the real images; sharpness well below 1 is blur, diversity well below 1 mode collapse)."""
    from animegen.metrics.diversity import diversity_score
    from animegen.metrics.sharpness import sharpness

    s, s_real = sharpness(images), sharpness(real)
    d, d_real = diversity_score(images, "random-conv"), diversity_score(real, "random-conv")
    return {"sharpness": finite(s), "sharpness_ratio": finite(s / max(s_real, 1e-12)),
            "diversity": finite(d), "diversity_ratio": finite(d / max(d_real, 1e-12))}


@torch.no_grad()
def active_units(model, images: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD,
                 batch_size: int = 256) -> dict[str, Any]:
    """Active units of an encoder (Burda et al. 2016): ``A_u = Cov_x(E_q[z_u | x]) > threshold`` over ``images``."""
    mus = torch.cat([model.encode(to_tensor(images[i : i + batch_size])).float()  # [b, z]
                     for i in range(0, len(images), batch_size)])  # [N, z]
    var = mus.var(dim=0, unbiased=True)  # [z]
    return {"active_units": int((var > threshold).sum()), "latent_dim": int(mus.shape[1]),
            "threshold": threshold}


@torch.no_grad()
def latent_continuity(model, pairs: int = 8, steps: int = 12, seed: int = 0) -> dict[str, Any]:
    """Straight-line paths between ``pairs`` pairs of prior codes: the jump ratio (largest frame-to-frame pixel
    change over the mean one; 1 = an even morph, large = the path crosses a hole) averaged and at its worst."""
    from animegen.latent.interpolate import interpolate

    gen = torch.Generator().manual_seed(seed)
    ratios, changes = [], []
    for _ in range(pairs):
        anchors = torch.randn(2, model.latent_dim, generator=gen)  # [2, z]
        nums = interpolate(model, anchors, steps).numbers()
        if nums["jump_ratio"] is not None:
            ratios.append(nums["jump_ratio"])
            changes.append(nums["mean_frame_change"])
    if not ratios:
        return {"jump_ratio_mean": None, "jump_ratio_max": None, "mean_frame_change": None, "pairs": 0}
    return {"jump_ratio_mean": finite(np.mean(ratios)), "jump_ratio_max": finite(np.max(ratios)),
            "mean_frame_change": finite(np.mean(changes)), "pairs": len(ratios), "steps": steps}


def _series(rows: list[dict], key: str) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r[key])) for r in rows if key in r]


def stability(run_dir: str | Path, loss_key: str) -> dict[str, Any]:
    """Training-stability numbers of a run: non-finite/rollback events, the relative spread of ``loss_key`` over the
    second half of training (std of its step-to-step changes over the mean |value|), and the diversity-ratio
    trajectory the trainer logged (``health/diversity_ratio``: the mode-collapse signal)."""
    from animegen.runs import read_metrics

    rows = read_metrics(run_dir)
    events = [r.get("event") for r in rows if "event" in r]
    loss = _series(rows, f"train/{loss_key}")
    half = [v for _, v in loss[len(loss) // 2:]]
    nonfinite = sum(1 for _, v in loss if not math.isfinite(v))
    roughness = None
    if len(half) >= 3:
        d = np.diff(np.asarray(half))
        roughness = finite(np.std(d) / max(np.mean(np.abs(half)), 1e-12))
    div = _series(rows, "health/diversity_ratio")
    return {"loss_key": loss_key, "points": len(loss), "nonfinite": nonfinite,
            "rollbacks": events.count("rollback"), "diverged": "diverged" in events,
            "loss_roughness": roughness,
            "diversity_ratio": [[s, finite(v)] for s, v in div],
            "diversity_ratio_min": finite(min(v for _, v in div)) if div else None,
            "diversity_ratio_last": finite(div[-1][1]) if div else None,
            "steps": int(rows[-1]["step"]) if rows else 0}
