"""Evaluate a model (or a set of generated images) against real images: every metric, one dict.

    from animegen.metrics.evaluate import EvalOptions, evaluate_model
    report = evaluate_model(animegen.load("runs/vae-1/final.safetensors"), open_source("faces/"), EvalOptions(n=2000))

The report holds ``fid``, ``kid``, ``kid_std``, ``precision``, ``recall``, ``density``, ``coverage``,
``is``/``is_std`` (None when the weights lack the classifier; ``unavailable["is"]`` says why),
``diversity``, ``sharpness``, ``detection``, ``memorisation``, ``recon`` (models with an encoder) and a
``protocol`` block that records how every number was made (network + weights sha1, resize, N
generated, N real, KID subsets/size, PR k, seed, timings).
"""
from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from animegen.metrics.common import MetricError, finite_or_none
from animegen.progress import info, progress


@dataclass
class EvalOptions:
    """How ``animegen evaluate`` measures (CLI flags map 1:1)."""

    n: int = 2000
    """Generated samples."""
    n_real: int | None = 5000
    """Real reference images (a seeded subset when the split is larger; None: all)."""
    real_split: str = "all"
    """``all``, ``train`` or ``val`` (held-out part; the dataset's own split or a seeded one)."""
    val_fraction: float = 0.05
    """Held-out share for ``real_split`` val/train when the dataset defines no split (the run's data.val_fraction)."""
    split_seed: int = 0
    """Seed of that split (the run's data.seed), as ``animegen.train.data.split_indices``."""
    seed: int = 0
    """Seeds the sampling generator, the real subset and the KID subsets."""
    batch_size: int = 32
    """Inception batch."""
    sample_batch: int = 250
    truncation: float | None = None
    prior: str = "auto"
    """Latent distribution to sample: standard, fitted or auto (see GenerativeModel.sample_latent)."""
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    pr_k: int = 3
    is_splits: int = 10
    recon: bool = True
    recon_n: int = 1000
    detect: bool = True
    detect_n: int = 200
    detect_backend: str = "auto"
    cascade: str | None = None
    """OpenCV cascade XML for the face detector when animeface is unusable."""
    memorisation: bool = True
    diversity_n: int = 1000
    use_cache: bool = True
    inception: str | None = None
    precision: str = "fp32"


def generate(model, n: int, seed: int = 0, batch: int = 250, truncation: float | None = None,
             prior: str = "auto") -> np.ndarray:
    """``n`` samples as uint8 ``[n, H, W, C]`` from ``model.sample`` with a seeded CPU generator."""
    from animegen.imaging import to_uint8

    g = torch.Generator().manual_seed(int(seed))
    out = []
    with progress(total=n, desc="sampling", unit="img") as bar:
        for i in range(0, n, batch):
            b = min(batch, n - i)
            x = model.sample(b, generator=g, truncation=truncation, prior=prior)  # [b, C, H, W] in [-1, 1]
            if not torch.isfinite(x).all():
                raise MetricError(
                    f"the model produced NaN/inf pixels (batch at sample {i}); the checkpoint is diverged"
                )
            out.append(to_uint8(x))
            bar.update(b)
    return np.concatenate(out)


def _safe(fn, unavailable: dict, key: str, *args, **kw):
    """Run one optional metric; a MetricError becomes ``unavailable[key]`` instead of failing the report."""
    try:
        return fn(*args, **kw)
    except MetricError as exc:
        unavailable[key] = str(exc)
        return None


def evaluate_images(
    fake: np.ndarray, real_ds, opts: EvalOptions, extractor=None, model=None, fake_seconds: float = 0.0
) -> dict[str, Any]:
    """All metrics of generated uint8 images ``fake`` against the ImageSet ``real_ds``."""
    from animegen.metrics import diversity as div
    from animegen.metrics.detection import detection_rate, load_detector
    from animegen.metrics.fid import feature_statistics, fid_from_features, frechet_distance
    from animegen.metrics.inception import IS_HINT, get_extractor
    from animegen.metrics.inception_score import inception_score
    from animegen.metrics.kid import kid
    from animegen.metrics.memorisation import memorisation
    from animegen.metrics.prdc import prdc
    from animegen.metrics.recon import reconstruction_metrics
    from animegen.metrics.refstats import reference_features, select, split_images, split_key
    from animegen.metrics.sharpness import sharpness

    t_start = time.perf_counter()
    ext = extractor or get_extractor(opts.inception, batch_size=opts.batch_size, precision=opts.precision)
    unavailable: dict[str, str] = {}
    real_images, split_how = split_images(real_ds, opts.real_split, opts.val_fraction, opts.split_seed)
    t0 = time.perf_counter()
    ref = reference_features(
        real_images,
        real_ds.fingerprint,
        ext,
        split=split_key(opts.real_split, opts.val_fraction, opts.split_seed),
        n=opts.n_real,
        seed=opts.seed,
        use_cache=opts.use_cache,
        name=real_ds.name,
    )
    t_real = time.perf_counter() - t0
    ref_idx = select(len(real_images), opts.n_real, opts.seed)
    real_sub = real_images[ref_idx]

    info(f"features of {len(fake)} generated images …")
    feats = ext.extract(fake, logits=True, desc="generated features")
    t_fake_feat = feats.seconds

    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        timings[name] = round(now - t0, 2)
        t0 = now

    if 2 * min(ref.n, len(fake)) <= ref.pool.shape[1]:
        fid_value = fid_from_features(ref.pool, feats.pool)  # low-rank path: exact and cheap at small N
    else:
        mu, sigma = feature_statistics(feats.pool)
        fid_value = frechet_distance(ref.mu, ref.sigma, mu, sigma)
    report: dict[str, Any] = {"fid": fid_value}
    lap("fid")
    k_mean, k_std = kid(
        ref.pool, feats.pool, subsets=opts.kid_subsets, subset_size=opts.kid_subset_size, seed=opts.seed
    )
    report.update(kid=k_mean, kid_std=k_std)
    lap("kid")
    pr = _safe(prdc, unavailable, "precision", ref.pool, feats.pool, k=opts.pr_k)
    report.update(pr or {"precision": None, "recall": None, "density": None, "coverage": None})
    lap("precision_recall")
    if feats.logits is not None and len(fake) >= opts.is_splits:
        report["is"], report["is_std"] = inception_score(feats.logits, splits=opts.is_splits)
    else:
        report["is"] = report["is_std"] = None
        unavailable["is"] = IS_HINT if feats.logits is None else f"fewer samples than the {opts.is_splits} IS splits"

    # diversity: Inception space (fake vs real) and the cheap pixel space
    d_fake = div.mean_pairwise_distance(feats.pool, max_n=opts.diversity_n, seed=opts.seed)
    d_real = div.mean_pairwise_distance(ref.pool, max_n=opts.diversity_n, seed=opts.seed)
    p_fake = div.diversity_score(fake, "pixels", max_n=opts.diversity_n, seed=opts.seed)
    p_real = div.diversity_score(real_sub, "pixels", max_n=opts.diversity_n, seed=opts.seed)
    report["diversity"] = {
        "inception": d_fake,
        "inception_real": d_real,
        "ratio": d_fake / d_real if d_real else None,
        "pixels": p_fake,
        "pixels_real": p_real,
    }
    s_fake, s_real = sharpness(fake), sharpness(real_sub[: max(len(fake), 1000)])
    report["sharpness"] = {
        "laplacian_var": s_fake,
        "laplacian_var_real": s_real,
        "ratio": s_fake / s_real if s_real else None,
    }
    lap("diversity_sharpness")

    # memorisation against the training images
    if opts.memorisation:
        if opts.real_split in ("val", "valid", "test"):
            train_images, _ = split_images(real_ds, "train", opts.val_fraction, opts.split_seed)
            train_ref = reference_features(
                train_images,
                real_ds.fingerprint,
                ext,
                split=split_key("train", opts.val_fraction, opts.split_seed),
                n=opts.n_real,
                seed=opts.seed,
                use_cache=opts.use_cache,
                name=real_ds.name,
            )
            report["memorisation"] = _safe(
                memorisation,
                unavailable,
                "memorisation",
                feats.pool,
                train_ref.pool,
                real_holdout=ref.pool,
                seed=opts.seed,
            )
        else:
            report["memorisation"] = _safe(
                memorisation, unavailable, "memorisation", feats.pool, ref.pool, seed=opts.seed
            )
    else:
        report["memorisation"] = None
    lap("memorisation")

    # reconstruction (models with an encoder), on held-out images
    report["recon"] = None
    if opts.recon and model is not None and getattr(model, "has_encoder", False):
        held, how = split_images(real_ds, "val", opts.val_fraction, opts.split_seed)
        held = held[: opts.recon_n]
        rec = _safe(reconstruction_metrics, unavailable, "recon", model, held)
        if rec is not None:
            rec["images"] = how
        report["recon"] = rec
    elif model is not None and not getattr(model, "has_encoder", False):
        unavailable["recon"] = f"{getattr(model, 'family', 'this model')} has no encoder"
    lap("recon")

    # face detection pass rate (generated vs real)
    report["detection"] = None
    if opts.detect and fake.shape[-1] == 1:
        unavailable["detection"] = "grayscale images (e.g. MNIST): no face detection"
    elif opts.detect:
        det, why = load_detector(opts.detect_backend, opts.cascade, image_size=int(fake.shape[1]))
        if det is None:
            unavailable["detection"] = why
        else:
            r_fake = detection_rate(fake, det, max_n=opts.detect_n)
            r_real = detection_rate(real_sub, det, max_n=opts.detect_n)
            report["detection"] = {
                "rate": r_fake["rate"],
                "rate_real": r_real["rate"],
                "n": r_fake["n"],
                "n_real": r_real["n"],
                "detector": why,
            }
    lap("detection")
    t_metrics = sum(timings.values())

    report["unavailable"] = unavailable
    report["protocol"] = {
        **ext.protocol(),
        "fid_sqrt": "eigh (tr sqrt of Sigma1^1/2 Sigma2 Sigma1^1/2), float64",
        "n_generated": int(len(fake)),
        "n_real": ref.n,
        "real_source": real_ds.name,
        "real_fingerprint": real_ds.fingerprint,
        "real_split": split_how,
        "real_subset_seed": opts.seed,
        "real_cached": ref.cached,
        "real_cache_file": str(ref.path) if ref.path else None,
        "kid_subsets": opts.kid_subsets,
        "kid_subset_size": int(min(opts.kid_subset_size, ref.n, len(fake))),
        "kid_kernel": "(x.y/d + 1)^3, unbiased MMD^2",
        "pr_k": opts.pr_k,
        "is_splits": opts.is_splits,
        "seed": opts.seed,
        "truncation": opts.truncation,
        "prior": opts.prior,
        "memorisation": "d1/d2 < 1/3 in pool3 space (see animegen.metrics.memorisation)",
        "seconds": {
            "sampling": round(fake_seconds, 2),
            "features_generated": round(t_fake_feat, 2),
            "features_real": round(t_real, 2) if not ref.cached else 0.0,
            "metrics": round(t_metrics, 2),
            "metrics_by_name": timings,
            "total": round(time.perf_counter() - t_start + fake_seconds, 2),
        },
        "features_img_per_s": round(len(fake) / t_fake_feat, 2) if t_fake_feat > 0 else None,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "options": asdict(opts),
    }
    return finite_or_none(report)


def evaluate_model(model, real_ds, opts: EvalOptions | None = None, extractor=None) -> dict[str, Any]:
    """Sample ``opts.n`` images from ``model`` and evaluate them against ``real_ds`` (see module doc)."""
    opts = opts or EvalOptions()
    if opts.n < 2:
        raise MetricError(f"--n must be at least 2 (got {opts.n})")
    t0 = time.perf_counter()
    info(f"sampling {opts.n} images …")
    fake = generate(
        model, opts.n, seed=opts.seed, batch=opts.sample_batch, truncation=opts.truncation, prior=opts.prior
    )
    report = evaluate_images(
        fake, real_ds, opts, extractor=extractor, model=model, fake_seconds=time.perf_counter() - t0
    )
    header = getattr(model, "checkpoint_header", None) or {}
    report["model"] = {
        "family": getattr(model, "family", None),
        "step": header.get("step"),
        "epoch": header.get("epoch"),
        "has_encoder": bool(getattr(model, "has_encoder", False)),
    }
    return report


def is_finite_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
