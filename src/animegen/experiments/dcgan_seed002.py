"""dcgan-seed002 (seed article 002): the course project's DCGAN exactly, and its WGAN / WGAN-GP variants, at the
article's settings (Adam lr 1e-4, batch 64, 64 px), measured with FID, KID, the trainer's mode-collapse signal over
training (sample diversity over the real images', ``health/diversity_ratio``) and the Inception Score when the
user supplies Inception weights with the classifier (the bundled FID network has none: IS is then unavailable).

The three runs are shared with gan-vs-vae through the run cache (:func:`train_gan`).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from animegen.experiments import measures as M
from animegen.experiments.claims import article, claim
from animegen.experiments.core import Context, Result, Row, Verdict
from animegen.experiments.recipes import DCGAN_SEED002, WGAN_GP_SEED002, WGAN_SEED002, Recipe, train
from animegen.experiments.shared import tiny
from animegen.experiments.writeout import fmt
from animegen.imaging import save_grid, to_tensor
from animegen.train.health import COLLAPSE_RATIO

NAME = "dcgan-seed002"
SEED = "002"
CPU_MINUTES = 2.5
"""Process-CPU minutes of training per model at budget scale 1 (gan-vs-vae gives its models the same)."""
DEFAULT_DATA = "synth:2000"
SIZE = 64
MODELS = {"DCGAN": DCGAN_SEED002, "WGAN": WGAN_SEED002, "WGAN-GP": WGAN_GP_SEED002}
EVAL_EVERY = 20
"""Steps between the trainer's diversity checks (the collapse signal over training)."""


def gan_size(ctx: Context) -> int:
    return 32 if tiny(ctx) else SIZE


def train_gan(ctx: Context, recipe: Recipe, data: str) -> Any:
    """One run at this experiment's settings and per-model budget (gan-vs-vae makes the same call: the runner
    trains it once, under the key ``recipe.name``)."""
    every = EVAL_EVERY if recipe.family in ("dcgan", "wgan", "wgan-gp") else 10 * EVAL_EVERY  # VAEs export `best`
    return train(ctx, recipe, data, gan_size(ctx), ctx.budget(CPU_MINUTES), eval_every=every)


def collapse_signal(run_dir) -> dict[str, Any]:
    """The diversity-ratio series the trainer logged (sample diversity over the real images'), its peak, its lowest
    value after the peak, the last value, and whether it fell below the collapse threshold
    (:data:`animegen.train.health.COLLAPSE_RATIO`) after having reached it: an untrained generator also scores
    low, so only a drop from a healthy value counts as collapse."""
    s = M.stability(run_dir, "loss_g")
    series = [(st, v) for st, v in s["diversity_ratio"] if v is not None]
    values = [v for _, v in series]
    peak_at = int(np.argmax(values)) if values else 0
    peak = values[peak_at] if values else None
    low = min(values[peak_at:]) if values else None
    healthy = peak is not None and peak >= COLLAPSE_RATIO
    return {"series": series, "peak": peak, "min_after_peak": low, "last": values[-1] if values else None,
            "reached_threshold": healthy, "collapsed": bool(healthy and low is not None and low < COLLAPSE_RATIO),
            "threshold": COLLAPSE_RATIO, "steps": s["steps"], "rollbacks": s["rollbacks"], "nonfinite": s["nonfinite"]}


def run(ctx: Context) -> Result:
    from animegen.data.sources import open_source

    data = ctx.data or DEFAULT_DATA
    n = 12 if tiny(ctx) else ctx.count(256, 64)
    size = gan_size(ctx)
    ds = open_source(data, size=size, channels=3)
    real = ds.images[:n]
    why_no_fid = M.inception_status(ctx.inception)
    results: dict[str, Any] = {}
    grids = [to_tensor(real[:8])]
    for label, recipe in MODELS.items():
        run_dir = train_gan(ctx, recipe, data)
        model = M.load_run(run_dir)
        fake = M.samples_uint8(model, n, seed=1)
        grids.append(to_tensor(fake[:8]))
        sig = collapse_signal(run_dir)
        results[label] = {
            "key": recipe.name, "run": str(run_dir), "steps": sig["steps"],
            "epochs": round(sig["steps"] * 64 / max(len(ds), 1), 3),
            "fid": None if why_no_fid else M.fid_kid(real, fake, ctx.inception),
            "is": M.inception_score_of(fake, ctx.inception), "collapse": sig,
            "pixels": M.sharpness_diversity(fake, real),
        }
    grid, curve = ctx.file("dcgan_seed002_samples.png"), ctx.file("dcgan_seed002_collapse.png")
    save_grid(torch.cat(grids), grid, nrow=8, scale=2 if size < 64 else 1, row_labels=["real", *MODELS])
    _plot_collapse(results, curve)
    numbers = {"data": data, "size": size, "n": n, "fid_unavailable": why_no_fid,
               "cpu_minutes_per_model": ctx.budget(CPU_MINUTES), "models": results,
               "runs": {r["key"]: r["run"] for r in results.values()}}
    notes = [] if results["DCGAN"]["is"]["is"] is not None else [results["DCGAN"]["is"]["why"]]
    return Result(rows=verdicts(results, data, size, n, why_no_fid), numbers=numbers,
                  images={"real faces, then DCGAN, WGAN, WGAN-GP samples": grid,
                          "sample diversity over the real faces' during training (the mode-collapse signal)": curve},
                  notes=notes)


def _plot_collapse(results: dict[str, Any], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from animegen.fsutil import atomic_path

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, r in results.items():
        s = r["collapse"]["series"]
        if s:
            ax.plot([a for a, _ in s], [b for _, b in s], marker=".", label=label)
    ax.axhline(COLLAPSE_RATIO, color="grey", linestyle="--", linewidth=1, label="collapse threshold")
    ax.set_xlabel("step")
    ax.set_ylabel("sample diversity / real")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": "animegen"})
    plt.close(fig)


def _num(v: float | None) -> str:
    return "n/a" if v is None or not math.isfinite(float(v)) else fmt(v)


def verdicts(res: dict[str, Any], data: str, size: int, n: int, why_no_fid: str | None) -> list[Row]:
    d = res["DCGAN"]
    setup = f"{size} px, {data}, Adam lr 1e-4, batch 64, {d['steps']} steps ({d['epochs']} epochs), N={n} samples"
    rows = []
    faces = claim("002.faces")
    if d["fid"] is None:
        rows.append(Row(faces.claim, article("002.faces"), "FID/KID unavailable", setup, "differs", why_no_fid or ""))
    else:
        short = d["epochs"] < (claim("002.epochs").value or 1)
        rows.append(Row(
            faces.claim, f"{article('002.epochs')} epoch, {article('002.faces')}",
            f"FID {_num(d['fid']['fid'])}, KID {_num(d['fid']['kid'])}", setup, "differs",
            "the article judged by eye on real faces; we measure FID/KID on the data given at a CPU budget"
            + (f" (only {d['epochs']} of an epoch)" if short else "")))
    c = d["collapse"]
    verdict: Verdict
    verdict, why = (("reproduced", "the sample diversity fell below half the real faces' after reaching it")
                    if c["collapsed"] else
                    ("not reproduced", "the sample diversity stayed above half the real faces' once it got there")
                    if c["reached_threshold"] else
                    ("differs", "the samples never reached half the real faces' diversity: undertrained at this "
                                "budget, so a collapse cannot be told from a generator still learning"))
    rows.append(Row(
        claim("002.collapse").claim, article("002.collapse"),
        f"diversity ratio peak {_num(c['peak'])}, lowest after it {_num(c['min_after_peak'])}, last {_num(c['last'])} "
        f"(collapse: below {COLLAPSE_RATIO} after reaching it)", setup, verdict, why))
    parts = []
    for label in ("WGAN", "WGAN-GP"):
        r = res[label]
        fid = r["fid"]["fid"] if r["fid"] else None
        parts.append(f"{label}: FID {_num(fid)}, diversity {_num(r['collapse']['last'])}, "
                     f"{r['steps']} steps, rollbacks {r['collapse']['rollbacks']}")
    ok = all(res[k]["collapse"]["nonfinite"] == 0 for k in ("WGAN", "WGAN-GP"))
    rows.append(Row(
        claim("002.variants").claim, article("002.variants"), "; ".join(parts), setup,
        "reproduced" if ok else "not reproduced",
        "both variants train with finite losses at the article's batch" if ok
        else "a variant produced non-finite losses"))
    is_d = d["is"]
    rows.append(Row(
        claim("002.is").claim, article("002.is"),
        f"DCGAN IS {_num(is_d['is'])} ± {_num(is_d.get('is_std'))}" if is_d["is"] is not None else is_d["why"],
        setup, "differs", "the article gives no IS value to compare; IS ignores the real data (FID/KID do not)"))
    return rows
