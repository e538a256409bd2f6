"""mnist (seed article 003): the pytorch/examples AE and VAE (784-400-20 MLPs, BCE summed per image) on MNIST —
the loss per epoch, Real/Guess grids, generation from noise, the 1 → 7 morph, and an anomaly-detection demo
(rank images by reconstruction error).

Data: ``--data mnist:DIR`` (the IDX files; the t10k split is the test set), else ``$ANIMEGEN_MNIST`` (a folder),
else ``mnist:data/mnist``. Measurements:

* generation: each prior sample's nearest test digit (pixel distance), over the test digits' own distance to
  their nearest training digit (1 ≈ as close as a real digit; the AE's N(0, I) samples land far off);
* morph: codes of a test 1 and a test 7, a straight path of MORPH_FRAMES frames; the jump ratio (largest frame
  change over the mean) and the middle frame's nearest-digit ratio;
* anomalies: reconstruction error (BCE per image) of test digits against ANOMALIES non-digits (inverted digits and
  grey synthetic faces); AUROC of the error as a detector, and the test digits it ranks most anomalous.
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch

from animegen.experiments import measures as M
from animegen.experiments.claims import article, claim
from animegen.experiments.core import Context, Result, Row
from animegen.experiments.recipes import MNIST_AE, MNIST_VAE, train
from animegen.experiments.shared import features, nn_distance, tiny
from animegen.experiments.writeout import fmt
from animegen.imaging import save_grid, to_tensor
from animegen.models import losses

NAME = "mnist"
CPU_MINUTES = {"vae": 2.0, "ae": 1.5}
"""Process-CPU minutes of training at budget scale 1."""
BATCH = 128
MORPH_FRAMES = 10
ANOMALIES = 100


def mnist_source(ctx: Context) -> str:
    if ctx.data and ctx.data.startswith("mnist:"):
        return ctx.data.removesuffix(":train")
    env = os.environ.get("ANIMEGEN_MNIST")
    return f"mnist:{env}" if env else "mnist:data/mnist"


def per_epoch(run_dir, n_train: int) -> list[dict[str, Any]]:
    """Mean logged ``train/loss`` (and its BCE part) per epoch: the loss per image the article plots."""
    from animegen.runs import read_metrics, read_run_config

    batch = read_run_config(run_dir).train.batch_size
    spe = max(1, math.ceil(n_train / batch))
    by: dict[int, list[dict]] = {}
    for r in read_metrics(run_dir):
        if "train/loss" in r:
            by.setdefault((int(r["step"]) - 1) // spe + 1, []).append(r)
    out = []
    for e, rs in sorted(by.items()):
        row: dict[str, Any] = {"epoch": e, "loss_per_image": M.finite(np.mean([x["train/loss"] for x in rs]))}
        if "train/recon_per_image" in rs[0]:
            row["bce_per_image"] = M.finite(np.mean([x["train/recon_per_image"] for x in rs]))
        out.append(row)
    return out


@torch.no_grad()
def bce_per_image(model, images: np.ndarray) -> np.ndarray:
    """−log p(x | x̂) per image (Bernoulli, summed over the 784 pixels; Kingma & Welling 2014, App. C.1)."""
    x = to_tensor(images)  # [N, 1, 28, 28]
    z = model.encode(x)  # posterior mean [N, z]
    return losses.bernoulli_nll(x, model.decoder(z).float()).numpy()  # [N]


def auroc(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """P(score of an anomaly > score of a normal image), ties half (the Mann-Whitney AUROC)."""
    a, n = anomalous[:, None], normal[None, :]
    return float(((a > n).sum() + 0.5 * (a == n).sum()) / (a.size * n.size))


def anomalies(test: np.ndarray, n: int) -> np.ndarray:
    """``n`` non-digits at 28 px: half inverted test digits, half grey synthetic faces."""
    from animegen.data.synthetic import render_faces

    inv = 255 - test[-(n // 2):]
    faces, _ = render_faces(n - n // 2, size=32, seed=5, workers=1)  # [m, 32, 32, 3]
    grey = (faces.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))[:, 2:30, 2:30, None]
    return np.concatenate([inv, grey.round().astype(np.uint8)])


def _near_ratio(images: np.ndarray, test_f: torch.Tensor, base: float) -> float | None:
    return M.finite(nn_distance(features(to_tensor(images), 28), test_f).mean() / base)


@torch.no_grad()
def morph(model, one: np.ndarray, seven: np.ndarray) -> tuple[torch.Tensor, dict[str, Any]]:
    from animegen.latent.interpolate import interpolate

    z = model.encode(to_tensor(np.stack([one, seven])))  # [2, z]
    path = interpolate(model, z, MORPH_FRAMES)
    return path.frames, path.numbers()


def run(ctx: Context) -> Result:
    from animegen.data.sources import open_source
    from animegen.errors import DataError

    src = mnist_source(ctx)
    try:
        train_set, test_set = open_source(src), open_source(f"{src}:test")
    except DataError as exc:
        raise DataError(f"{exc} (the mnist experiment reads MNIST IDX files: --data mnist:DIR or "
                        "$ANIMEGEN_MNIST=DIR)") from None
    small = tiny(ctx)
    n_test = 64 if small else ctx.count(2000, 500)
    test = test_set.images[:n_test]
    labels = np.asarray((test_set.labels or {})["digit"][:n_test])
    ref = train_set.images[: (256 if small else 5000)]
    test_f, ref_f = features(to_tensor(test), 28), features(to_tensor(ref), 28)
    base = float(nn_distance(test_f, ref_f).mean())  # a real test digit's distance to its nearest training digit
    odd = anomalies(test, 16 if small else ANOMALIES)
    one, seven = _pick(test, labels, 1), _pick(test, labels, 7)
    res: dict[str, dict[str, Any]] = {}
    recon_rows, sample_rows, morph_rows = [], [], []
    for fam, recipe in (("ae", MNIST_AE), ("vae", MNIST_VAE)):
        steps = int(claim("003.epochs").value or 20) * math.ceil(len(train_set) / BATCH)  # the article's epochs
        run_dir = train(ctx, recipe, src, 28, ctx.budget(CPU_MINUTES[fam]), steps=steps)
        model = M.load_run(run_dir)
        err = bce_per_image(model, test)
        gen = M.samples_uint8(model, 64, seed=ctx.seed, prior="standard")
        frames, path = morph(model, one, seven)
        r: dict[str, Any] = {
            "key": recipe.name, "run": str(run_dir), "per_epoch": per_epoch(run_dir, len(train_set)),
            "test_bce_per_image": M.finite(err.mean()), "test_bce_per_pixel": M.finite(err.mean() / 784),
            "test_mean_abs_error": M.finite(np.abs(M.reconstructions_uint8(model, test).astype(np.float64)
                                                   - test).mean() / 255),
            "samples_near_ratio": _near_ratio(gen, test_f, base),
            "morph_jump_ratio": path["jump_ratio"],
            "morph_mid_near_ratio": _near_ratio(_mid(frames), test_f, base),
            "anomaly_auroc": M.finite(auroc(err, bce_per_image(model, odd))),
            "most_anomalous_digits": [int(labels[i]) for i in np.argsort(-err)[:16]],
        }
        if fam == "vae":
            with torch.no_grad():
                r["test_nelbo_per_image"] = M.finite(model.eval_step(to_tensor(test))["nelbo_per_image"])
            r["most_anomalous"] = test[np.argsort(-err)[:16]]
        res[fam] = r
        recon_rows += [to_tensor(test[:16]), to_tensor(M.reconstructions_uint8(model, test[:16]))]
        sample_rows.append(to_tensor(gen[:16]))
        morph_rows.append(frames)
    images = _save_grids(ctx, recon_rows, sample_rows, morph_rows, res["vae"].pop("most_anomalous"))
    numbers = {"data": src, "train_images": len(train_set), "test_images": n_test, "anomalies": len(odd),
               "near_base": base, "models": res, "runs": {r["key"]: r["run"] for r in res.values()}}
    return Result(rows=verdicts(res, src, len(train_set), n_test), numbers=numbers, images=images)


def _pick(test: np.ndarray, labels: np.ndarray, digit: int) -> np.ndarray:
    idx = np.flatnonzero(labels == digit)
    return test[idx[0] if len(idx) else 0]


def _mid(frames: torch.Tensor) -> np.ndarray:
    from animegen.imaging import to_uint8

    return to_uint8(frames[len(frames) // 2][None])  # [1, 28, 28, 1]


def _save_grids(ctx: Context, recon, samples, morphs, worst) -> dict[str, Any]:
    paths = {k: ctx.file(f"mnist_{k}.png") for k in ("recon", "samples", "morph", "anomalies")}
    save_grid(torch.cat(recon), paths["recon"], nrow=16, scale=2, row_labels=["Real", "Guess AE", "Real", "Guess VAE"])
    save_grid(torch.cat(samples), paths["samples"], nrow=16, scale=2, row_labels=["AE N(0,I)", "VAE N(0,I)"])
    save_grid(torch.cat(morphs), paths["morph"], nrow=MORPH_FRAMES, scale=2, row_labels=["AE 1 to 7", "VAE 1 to 7"])
    save_grid(to_tensor(worst), paths["anomalies"], nrow=16, scale=2, row_labels=["VAE: worst"])
    return {"Real over Guess rows (AE, then VAE), test digits": paths["recon"],
            "generation from noise z ~ N(0, I): AE row, VAE row": paths["samples"],
            "the 1 → 7 morph along a straight code path: AE row, VAE row": paths["morph"],
            "the 16 test digits the VAE reconstructs worst (most anomalous first)": paths["anomalies"]}


def verdicts(res: dict[str, dict[str, Any]], src: str, n_train: int, n_test: int) -> list[Row]:
    ae, vae = res["ae"], res["vae"]
    epochs = vae["per_epoch"]
    first = epochs[0]["loss_per_image"] if epochs else None
    last = epochs[-1]["loss_per_image"] if epochs else None
    setup = f"784-400-20 MLPs, {n_train:,} training digits, {len(epochs)} VAE epochs, batch {BATCH}, Adam 1e-3"
    rows = []
    lc = claim("003.loss_last")
    inside = last is not None and (lc.low or 0) <= last <= (lc.high or 0)
    full = len(epochs) >= (claim("003.epochs").value or 0)
    rows.append(Row(
        f"{claim('003.loss_first').claim} → {lc.claim}", f"{article('003.loss_first')} → {article('003.loss_last')}",
        f"{_n(first)} → {_n(last)} (epoch 1 → {len(epochs)})", setup,
        "reproduced" if inside and full else ("differs" if last is not None and first is not None and last < first
                                              else "not reproduced"),
        "within the article's range after its 20 epochs" if inside and full else
        f"the loss falls, but we trained {len(epochs)} of {article('003.epochs')} epochs on {n_train:,} digits "
        "(the article: the full 60,000)"))
    t = vae.get("test_nelbo_per_image")
    rc = claim("003.recon_loss")
    near = t is not None and abs(t - (rc.value or 0)) <= 0.1 * (rc.value or 1)
    rows.append(Row(rc.claim, article("003.recon_loss"),
                    f"test loss (BCE + KL) {_n(t)}, BCE {_n(vae['test_bce_per_image'])} (N={n_test})", setup,
                    "reproduced" if near else "differs",
                    "within 10%" if near else "a shorter training on fewer digits"))
    rows.append(Row(claim("003.per_pixel").claim, article("003.per_pixel"),
                    f"BCE per pixel {_n(vae['test_bce_per_pixel'])} nats; "
                    f"mean |x − x̂| {_n(vae['test_mean_abs_error'])}",
                    setup, "differs",
                    "105.9/784 is BCE in nats per pixel, not an error in [0, 1]; the mean absolute pixel error is "
                    "the number that reads as 'average error per pixel'"))
    a, v = ae["samples_near_ratio"], vae["samples_near_ratio"]
    ok = a is not None and v is not None and a > v
    rows.append(Row(claim("003.generate").claim, article("003.generate"),
                    f"nearest-digit distance of N(0, I) samples / a real digit's: AE {_n(a)}, VAE {_n(v)}", setup,
                    "reproduced" if ok else "not reproduced",
                    "the AE's noise samples land farther from any digit than the VAE's" if ok
                    else "the AE sampled as close to real digits as the VAE"))
    ja, jv = ae["morph_jump_ratio"], vae["morph_jump_ratio"]
    ma, mv = ae["morph_mid_near_ratio"], vae["morph_mid_near_ratio"]
    ok = ma is not None and mv is not None and mv <= ma
    rows.append(Row(claim("003.morph").claim, article("003.morph"),
                    f"jump ratio AE {_n(ja)}, VAE {_n(jv)}; "
                    f"middle frame's nearest-digit ratio AE {_n(ma)}, VAE {_n(mv)}",
                    setup, "reproduced" if ok else "differs",
                    "the VAE's middle frame is closer to a real digit than the AE's" if ok
                    else "one pair of digits: the AE's middle frame was as digit-like as the VAE's"))
    au_a, au_v = ae["anomaly_auroc"], vae["anomaly_auroc"]
    ok = au_v is not None and au_v >= 0.9
    rows.append(Row(claim("003.anomaly").claim, article("003.anomaly"),
                    f"AUROC of the reconstruction error, digits vs inverted digits + grey faces: AE {_n(au_a)}, "
                    f"VAE {_n(au_v)}", setup, "reproduced" if ok else "not reproduced",
                    "reconstruction error separates non-digits from digits" if ok
                    else "the reconstruction error does not separate them well at this budget"))
    return rows


def _n(v) -> str:
    return "n/a" if v is None else fmt(v)
