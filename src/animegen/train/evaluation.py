"""Periodic evaluation of a run (``train.eval_every``): validation scalars of the exported (EMA) weights,
the diversity of the fixed-noise samples against the real images', and the ``best`` checkpoint.

With ``train.eval_kid`` the evaluation also runs a quick KID/FID (:mod:`animegen.train.quality`) against
the validation half of the held-out split. ``best.safetensors`` follows the metric named by
``train.best_by`` (:func:`animegen.train.quality.resolve_best_by`): by default the quick KID for GANs with
``eval_kid``, else the family's ``GenerativeModel.best_metric`` (``val/nelbo_per_image`` for the VAE,
``val/recon_per_image`` for the AE); lower is better. GANs without ``eval_kid`` get no
``best.safetensors``: their losses do not measure sample quality. Each new best is logged as a ``best``
event with its rule, and the exported checkpoints carry ``best`` (metric, value, step, rule).
``eval/cpu_fraction`` is the share of the run's CPU time spent in these evaluations.
"""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import torch

from animegen import runs
from animegen.train import outputs
from animegen.train.data import fixed_batches
from animegen.train.export import export, periodic_costly, rng_fork
from animegen.train.health import collapse_warning, diversity
from animegen.train.quality import criterion

if TYPE_CHECKING:
    from animegen.train.trainer import Trainer

VAL_MAX_IMAGES = 512
DIVERSITY_IMAGES = 64


def validation_scalars(tr: Trainer) -> dict[str, float]:
    """Mean ``eval_step`` scalars of the EMA weights over (up to VAL_MAX_IMAGES of) the validation images."""
    model = tr.model
    sums: dict[str, float] = {}
    count = 0
    with tr.ema.swapped(model):
        was = model.training
        model.eval()
        try:
            for batch in fixed_batches(tr.loader, tr.val_idx[:VAL_MAX_IMAGES], tr.tc.batch_size):
                with torch.no_grad(), tr.ctx.autocast():
                    out = model.eval_step(batch)
                for k, v in out.items():
                    sums[k] = sums.get(k, 0.0) + float(v) * batch.shape[0]
                count += batch.shape[0]
        finally:
            model.train(was)
    return {k: v / count for k, v in sums.items()} if count else {}


def evaluate(tr: Trainer) -> None:
    """Log ``val/*`` and ``health/*`` scalars for the current step; export ``best`` when it improved."""
    if not tr.is_main or tr.last_eval_step == tr.step:
        return
    tr.last_eval_step = tr.step
    c0 = time.process_time()
    scalars: dict[str, float] = {}
    with rng_fork(tr.device):
        if len(tr.val_idx):
            val = validation_scalars(tr)
            if val:
                tr.last_val = val
                scalars.update({f"val/{k}": v for k, v in val.items()})
        gen = outputs.generate(tr.model, tr.fixed_z[:DIVERSITY_IMAGES])
    div = diversity(gen)
    scalars["health/diversity"] = div
    if tr.real_diversity:
        scalars["health/diversity_ratio"] = div / tr.real_diversity
        warmup = min(max(200, tr.tc.steps // 10), tr.tc.steps)  # early samples are not diverse yet
        msg = collapse_warning(tr.step, div, tr.real_diversity) if tr.step >= warmup else None
        if msg and tr.model.is_adversarial:
            tr.say(msg, True)
            scalars["health/collapse_warning"] = 1.0
    if tr.quality is not None:
        scalars.update(tr.quality.maybe_measure(tr, time.process_time() - tr.cpu_start))
    tr.eval_cpu += time.process_time() - c0
    scalars["eval/cpu_fraction"] = tr.eval_cpu / max(time.process_time() - tr.cpu_start, 1e-9)
    tr.logger.log(tr.step, scalars)
    metric = tr.best_metric
    value = scalars.get(metric) if metric else None
    if tr.best is not None and tr.best.get("metric") != metric:
        tr.best = None  # resumed with another train.best_by: the old best does not compare
    if value is not None and math.isfinite(value) and (tr.best is None or value < tr.best["value"]):
        tr.best = {"metric": metric, "value": value, "step": tr.step, "rule": criterion(tr, metric)["rule"]}
        tr.event("best", metric=metric, value=value, rule=tr.best["rule"])
        export(tr, runs.BEST, costly=periodic_costly(tr))
