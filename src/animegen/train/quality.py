"""Periodic quick KID/FID during training (opt-in: ``train.eval_kid``), and what picks ``best.safetensors``.

At every ``train.eval_every`` step (and at the end) :class:`QuickQuality` decodes ``train.eval_kid_n`` fixed
latents with the exported (EMA) weights, extracts Inception pool3 features and scores them against as many
faces of the **validation half** of the held-out split (:mod:`animegen.data.splits`; the test half is kept
for reported numbers). It logs ``quality/kid`` (± ``quality/kid_std``, Bińkowski et al. 2018) and
``quality/fid`` (Heusel et al. 2017; biased upwards at small N, so compare only at equal N) to
metrics.jsonl, with its cost: ``quality/cpu_s`` (this evaluation) and ``quality/cpu_fraction`` (all
evaluations so far ÷ the run's process CPU time since the loop started).

* The reference features are computed once per run and cached on disk by content
  (:mod:`animegen.metrics.refstats`, split key ``valid-…``), so a resumed run does not pay again.
* Cost cap: an evaluation that would bring the share above ``train.eval_kid_max_fraction`` (default 5 %) is
  skipped and logged as ``quality/skipped`` (0 disables the cap; then every evaluation runs, which keeps
  ``best`` independent of machine speed).
* The Inception network only scores samples under ``torch.inference_mode``: no gradient ever flows from it,
  and it is part of no loss and of no discriminator. Sampling runs under a forked RNG with the EMA weights
  swapped in and back, so training is bit-identical with and without ``eval_kid`` (tested).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from animegen.data.splits import heldout_halves
from animegen.errors import ConfigError
from animegen.imaging import to_uint8
from animegen.metrics.fid import fid_from_features
from animegen.metrics.kid import kid
from animegen.train import outputs
from animegen.train.export import refresh_ema_batchnorm, rng_fork

if TYPE_CHECKING:
    from animegen.train.trainer import Trainer

FeatureFn = Callable[[np.ndarray], np.ndarray]
"""uint8 ``[N, H, W, C]`` → float ``[N, D]`` features."""
KID_SUBSETS = 50
LATENT_SEED_OFFSET = 7919  # the quick-KID latents: their own generator, never the training RNG
QUALITY_METRICS = {"kid": "quality/kid", "fid": "quality/fid"}


@dataclass
class Extractor:
    """A feature function and what identifies it (for the reference cache key and the run's metadata)."""

    fn: FeatureFn
    sha1: str
    precision: str
    describe: str


def load_extractor(precision: str, batch_size: int = 32) -> Extractor:
    """The FID Inception (pool3) as an :class:`Extractor`; raises InceptionWeightsError when the weights are absent.

    Tests replace this function with a tiny feature map (the real network needs its weights file)."""
    from animegen.metrics.inception import get_extractor

    ext = get_extractor(None, batch_size=batch_size, precision=precision)

    def fn(images: np.ndarray) -> np.ndarray:
        return ext.extract(images, logits=False, desc="quick KID features").pool

    return Extractor(fn, ext.info.sha1, ext.precision, f"InceptionV3 pool3 ({ext.info.kind}, {ext.precision})")


def resolve_best_by(tr: Trainer) -> str | None:
    """The metrics.jsonl key that picks ``best.safetensors`` (None: no best checkpoint)."""
    tc, model = tr.tc, tr.model
    choice = tc.best_by
    if choice in ("kid", "fid"):
        if not tc.eval_kid:
            raise ConfigError(f"train.best_by={choice} needs train.eval_kid=true (and train.eval_every > 0)")
        return QUALITY_METRICS[choice]
    if choice == "auto" and tc.eval_kid and model.is_adversarial:
        return QUALITY_METRICS["kid"]
    if choice == "none":
        return None
    return type(model).best_metric


def resolve_precision(choice: str) -> str:
    if choice != "auto":
        return choice
    from animegen.train.device import cpu_has_bf16

    return "bf16" if cpu_has_bf16() else "fp32"


class QuickQuality:
    """The quick KID/FID of one run (rank 0 only); :meth:`maybe_measure` is called by the periodic evaluation."""

    def __init__(self, tr: Trainer):
        tc = tr.tc
        if tc.eval_every <= 0:
            raise ConfigError("train.eval_kid=true needs train.eval_every > 0 (how often to measure)")
        if not 0 <= tc.eval_kid_max_fraction <= 1:
            raise ConfigError("train.eval_kid_max_fraction must be in [0, 1] (0: no cap)")
        valid, _test = heldout_halves(tr.val_idx, tr.cfg.data.seed)
        if len(valid) < 2:
            raise ConfigError(f"train.eval_kid needs at least 2 faces in the validation half of the held-out split "
                              f"(it has {len(valid)}); raise data.val_fraction")
        self.n = min(int(tc.eval_kid_n), len(valid))
        self.valid_idx = valid[np.random.default_rng([tc.seed, LATENT_SEED_OFFSET]).permutation(len(valid))[:self.n]]
        self.precision = resolve_precision(tc.eval_kid_precision)
        self.extractor = load_extractor(self.precision)  # fails here, at set-up, when the weights are missing
        self.z = tr.model.sample_latent(self.n, generator=torch.Generator().manual_seed(tc.seed + LATENT_SEED_OFFSET))
        self.ref: np.ndarray | None = None
        self.cpu_total = 0.0  # CPU seconds of every quick evaluation in this invocation (reference included)
        self.last_cpu = 0.0
        self.warned = False

    def describe(self) -> str:
        return (f"{self.n} EMA samples vs {self.n} faces of the validation half of the held-out split, "
                f"{self.extractor.describe}")

    def reference(self, tr: Trainer) -> np.ndarray:
        """Features of the validation-half faces, from the on-disk cache when possible."""
        if self.ref is None:
            from animegen.metrics import refstats

            split = f"valid-f{tr.cfg.data.val_fraction:g}-s{tr.cfg.data.seed}-n{self.n}-s{tr.tc.seed}"
            key = refstats.cache_key(tr.data.fingerprint, split, self.n, tr.tc.seed, self.extractor.sha1,
                                     self.precision)
            path = refstats.cache_dir() / f"{key}.npz"
            hit = refstats.load_cached(path) if tr.data.fingerprint else None
            if hit is not None and hit.pool.shape[0] == self.n:
                self.ref = hit.pool
            else:
                idx = np.sort(self.valid_idx)
                rows = getattr(tr.loader, "rows", None)  # a memory-mapped dataset: read, don't map (flat RSS)
                images = rows.take(idx) if rows is not None else np.asarray(tr.data.images[idx])  # [n, H, W, C]
                with torch.inference_mode():
                    self.ref = self.extractor.fn(images)  # [n, D]
                if tr.data.fingerprint:
                    mu = self.ref.astype(np.float64).mean(axis=0)
                    meta = {"cache_version": refstats.CACHE_VERSION, "split": split, "n": self.n,
                            "fingerprint": tr.data.fingerprint, "weights_sha1": self.extractor.sha1,
                            "precision": self.precision, "purpose": "train.eval_kid reference"}
                    try:  # the sigma slot is unused here: the quick FID works from the features
                        refstats.save(refstats.Reference(self.ref, mu, np.zeros((1, 1)), meta), path)
                    except OSError:
                        pass  # a read-only cache is no reason to fail training
        return self.ref

    def maybe_measure(self, tr: Trainer, cpu_elapsed: float) -> dict[str, float]:
        """Scalars for metrics.jsonl: the quick KID/FID, or ``quality/skipped`` when the cost cap says so."""
        cap = tr.tc.eval_kid_max_fraction
        if cap > 0 and self.last_cpu > 0 and (self.cpu_total + self.last_cpu) > cap * max(cpu_elapsed, 1e-9):
            return {"quality/skipped": 1.0, "quality/cpu_fraction": self.cpu_total / max(cpu_elapsed, 1e-9)}
        c0 = time.process_time()
        scores = self.measure(tr)
        self.last_cpu = time.process_time() - c0
        self.cpu_total += self.last_cpu
        frac = self.cpu_total / max(cpu_elapsed + self.last_cpu, 1e-9)
        if cap > 0 and frac > cap and not self.warned:
            self.warned = True
            tr.say(f"warning: the quick KID/FID took {100 * frac:.1f}% of the CPU time so far (> {100 * cap:g}%); "
                   "later ones are skipped until the share falls below it. Raise train.eval_every or lower "
                   "train.eval_kid_n", True)
        return {**scores, "quality/cpu_s": self.last_cpu, "quality/cpu_fraction": frac}

    def measure(self, tr: Trainer) -> dict[str, float]:
        ref = self.reference(tr)
        with rng_fork(tr.device), tr.ema.swapped(tr.model):
            refresh_ema_batchnorm(tr)
            fake = to_uint8(outputs.generate(tr.model, self.z))  # [n, H, W, C] uint8
        with torch.inference_mode():
            feats = self.extractor.fn(fake)  # [n, D]
        if not np.isfinite(feats).all():
            return {"quality/kid": math.inf, "quality/fid": math.inf}
        # subsets of half the samples: their spread is the reported std (full-size subsets would all be equal)
        k, s = kid(ref, feats, subsets=KID_SUBSETS, subset_size=min(max(2, self.n // 2), 1000), seed=tr.tc.seed)
        return {"quality/kid": k, "quality/kid_std": s, "quality/fid": fid_from_features(ref, feats)}


def criterion(tr: Trainer, metric: str | None) -> dict[str, Any]:
    """How ``best.safetensors`` is chosen, for the run's metadata."""
    if metric is None:
        return {"metric": None, "rule": "no best checkpoint (train.best_by / the family names no metric)"}
    how = tr.quality.describe() if tr.quality is not None and metric.startswith("quality/") else "validation split"
    return {"metric": metric, "rule": f"lowest {metric} at train.eval_every={tr.tc.eval_every}: {how}"}
