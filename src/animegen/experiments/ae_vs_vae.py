"""ae-vs-vae (seed 000): a plain AE (z = 256) and a VAE (z = 50) on the same faces, at 128 px as the article
and at 64 px.

Measured on held-out faces (codes: the AE's code, the VAE's posterior mean):

* **latent spread**: mean per-dimension std and mean norm of the codes (:mod:`animegen.latent.stats`);
* **decoding prior samples**: N(0, I) codes, and codes from a diagonal Gaussian fitted to the data codes
  (the region the codes span: the fair "empty space" test for an AE, whose scale is arbitrary), decoded;
  score = median nearest-neighbour distance of the decodes to real faces in feature space, divided by the same
  distance of other real faces (≈ 1: like data; ≫ 1: off the data);
* **interpolation smoothness**: lerp morphs between pairs of faces: the largest frame-to-frame pixel change
  over the mean one (jump ratio, :func:`animegen.latent.interpolate.interpolate`), and the mid-path frames'
  feature distance to the data (same ratio as above);
* **2-D code map**: PCA of the codes; gap ratio = median distance from points drawn from a Gaussian fitted
  to the 2-D map to their nearest code, over the codes' own nearest-neighbour distance (≈ 1: one region;
  > 1: clusters with gaps between them).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from animegen.experiments import shared as S
from animegen.experiments.claims import article
from animegen.experiments.core import Context, Result, Row
from animegen.experiments.writeout import fmt

SIZES = (128, 64)
FACES = 1000  # measured faces at scale 1
PAIRS = 24  # morphs per model
FRAMES = 9  # frames per morph (the middle one is t = 0.5)
SAMPLES = 128  # prior samples per prior
NEAR = 2.0  # "≈": within a factor of 2 of the article's number
CLEAR = 1.1  # a model is worse than the other when its score is 10 % higher


def _ratio(q: torch.Tensor, ref: torch.Tensor, base: float) -> float:
    return float(S.nn_distance(S.features(q), ref).median()) / base


def _gap_ratio(codes: torch.Tensor, seed: int) -> float:
    from animegen.latent.stats import pca_2d

    xy = torch.from_numpy(pca_2d(codes)[0]).double()  # [N, 2]
    mean, cov = xy.mean(0), torch.cov(xy.T) + 1e-12 * torch.eye(2, dtype=xy.dtype)
    g = torch.Generator().manual_seed(seed)
    draws = mean + torch.randn(len(xy), 2, generator=g, dtype=xy.dtype) @ torch.linalg.cholesky(cov).T  # [N, 2]
    own = float(S.nn_distance(xy, xy, exclude_self=True).median())
    return float(S.nn_distance(draws, xy).median()) / max(own, 1e-12)


@torch.no_grad()
def measure(fm: S.FaceModel, ds, ref: torch.Tensor, base: float, n: int, pairs: int, seed: int,
            real_sharpness: float = 1.0) -> dict[str, Any]:
    """All numbers of the module doc for one model; ``ref`` are real-face features, ``base`` their NN distance,
    ``real_sharpness`` the real faces' median sharpness (blur of decodes is reported relative to it)."""
    from animegen.latent.decoding import decode_codes
    from animegen.latent.interpolate import interpolate
    from animegen.latent.stats import latent_stats

    st = latent_stats(fm.model, ds, n=n, pairs=min(200, n), seed=seed, keep_codes=True)
    codes = st["codes"].float()  # [n, D]
    g = torch.Generator().manual_seed(seed)
    k = min(SAMPLES, max(8, n))
    z_std = torch.randn(k, codes.shape[1], generator=g)  # [k, D]
    z_fit = codes.mean(0) + codes.std(0) * torch.randn(k, codes.shape[1], generator=g)  # [k, D]
    x_std, x_fit = decode_codes(fm.model, z_std), decode_codes(fm.model, z_fit)  # [k, C, H, W] each
    jumps, maxes, mids, morphs = [], [], [], []
    order = np.random.default_rng(seed).permutation(len(codes))
    for i in range(min(pairs, len(codes) // 2)):
        a, b = codes[order[2 * i]], codes[order[2 * i + 1]]
        path = interpolate(fm.model, torch.stack([a, b]), FRAMES)
        nums = path.numbers()
        jumps.append(nums["jump_ratio"] or 1.0)
        maxes.append(nums["max_frame_change"])
        mids.append(path.frames[FRAMES // 2])
        if i < 3:
            morphs.append(path.frames)
    mid = torch.stack(mids)  # [P, C, H, W]
    return {
        "key": fm.key, "size": fm.size, "latent_dim": int(codes.shape[1]),
        "steps": S.steps_of(fm),
        "mean_std": st["mean_std"], "mean_norm": st["mean_norm"], "active_units": st["active_units"],
        "prior_standard_ratio": _ratio(x_std, ref, base), "prior_fitted_ratio": _ratio(x_fit, ref, base),
        "morph_jump_ratio": float(np.median(jumps)), "morph_max_frame_change": float(np.median(maxes)),
        "morph_mid_ratio": _ratio(mid, ref, base), "pairs": len(jumps),
        "gap_ratio_2d": _gap_ratio(codes, seed),
        "sharpness_prior_standard": float(S.sharpness(x_std).median()) / real_sharpness,
        "sharpness_prior_fitted": float(S.sharpness(x_fit).median()) / real_sharpness,
        "sharpness_morph_mid": float(S.sharpness(mid).median()) / real_sharpness,
        "_stats": st, "_images": {"standard": x_std[:8], "fitted": x_fit[:8], "morphs": morphs},
    }


def _near(ours: float, theirs: float) -> bool:
    return theirs / NEAR <= ours <= theirs * NEAR


def _claimed_ratio(key: str) -> float:
    from animegen.experiments.claims import claim

    return float(claim(f"000.ae_{key}").value or 0) / float(claim(f"000.vae_{key}").value or 1)


def rows_for(size: int, ae: dict[str, Any], vae: dict[str, Any], setup: str) -> list[Row]:
    def spread(model: str, key: str, claim_key: str, label: str, m: dict[str, Any]) -> Row:
        from animegen.experiments.claims import claim

        c = claim(claim_key)
        ok = c.value is not None and _near(m[key], c.value)
        why = "within ×2 of the article" if ok else (
            "an AE's code scale is unconstrained: init, loss scale and training length set it" if model == "AE" else
            "the VAE's spread follows its KL weight against the pixel likelihood (σ = 0.1) and its training length")
        return Row(f"{model} codes: {label} ({size} px)", c.article, fmt(m[key]), setup,
                   "reproduced" if ok else "differs", why)

    rows = [spread("VAE", "mean_std", "000.vae_mean_std", "mean std", vae),
            spread("AE", "mean_std", "000.ae_mean_std", "mean std", ae),
            spread("VAE", "mean_norm", "000.vae_mean_norm", "mean norm", vae),
            spread("AE", "mean_norm", "000.ae_mean_norm", "mean norm", ae)]
    r_std, r_norm = ae["mean_std"] / max(vae["mean_std"], 1e-12), ae["mean_norm"] / max(vae["mean_norm"], 1e-12)
    wide = r_std >= 10 and r_norm >= 10
    rows.append(Row(f"AE codes spread far wider than VAE codes ({size} px)",
                    f"{_claimed_ratio('mean_std'):.0f}× (std), {_claimed_ratio('mean_norm'):.0f}× (norm)",
                    f"{fmt(r_std)}× (std), {fmt(r_norm)}× (norm)",
                    setup, "reproduced" if wide else "not reproduced",
                    "ratios of the two rows above; 'far wider' read as ≥ 10×"))
    a, v = ae["prior_fitted_ratio"], vae["prior_standard_ratio"]
    rows.append(Row(f"decoding sampled codes: VAE plausible, AE broken ({size} px)",
                    f"{article('000.vae_prior_decodes')} / {article('000.ae_prior_decodes')}",
                    f"distance to data ×{fmt(v)} (VAE, N(0,I)) vs ×{fmt(a)} (AE, fitted Gaussian); sharpness "
                    f"{fmt(vae['sharpness_prior_standard'])} vs {fmt(ae['sharpness_prior_fitted'])} of real faces",
                    setup,
                    "reproduced" if a > CLEAR * v else "not reproduced",
                    "nearest real face in feature space over real faces' own distance; 1 = like data"))
    ja, jv, ma, mv = ae["morph_jump_ratio"], vae["morph_jump_ratio"], ae["morph_mid_ratio"], vae["morph_mid_ratio"]
    rows.append(Row(f"morphs: largest frame-to-frame jump ({size} px)", article("000.vae_smooth_morph"),
                    f"jump ratio VAE {fmt(jv)}, AE {fmt(ja)} (1 = even steps)", setup,
                    "reproduced" if ja > CLEAR * jv else "not reproduced",
                    "largest over mean per-frame pixel change along a lerp morph, median over pairs"))
    rows.append(Row(f"morphs: mid-path frames off the data ({size} px)", article("000.vae_smooth_morph"),
                    f"distance to data ×{fmt(mv)} (VAE), ×{fmt(ma)} (AE); sharpness {fmt(vae['sharpness_morph_mid'])}"
                    f" vs {fmt(ae['sharpness_morph_mid'])} of real faces", setup,
                    "reproduced" if ma > CLEAR * mv else "not reproduced",
                    "t = 0.5 frames: nearest real face in feature space over real faces' own distance"))
    ga, gv = ae["gap_ratio_2d"], vae["gap_ratio_2d"]
    rows.append(Row(f"2-D code map: AE clusters, VAE one region ({size} px)",
                    f"{article('000.ae_clusters')} / {article('000.vae_one_region')}",
                    f"gap ratio AE {fmt(ga)}, VAE {fmt(gv)} (1 = one region)", setup,
                    "reproduced" if ga > CLEAR * gv else "not reproduced",
                    "Gaussian draws' distance to the nearest code over the codes' own NN distance, in the PCA plane"))
    return rows


def _save_images(ctx: Context, size: int, ae: dict[str, Any], vae: dict[str, Any], ds) -> dict[str, Any]:
    from animegen.imaging import save_grid
    from animegen.latent.probe import label_columns
    from animegen.latent.stats_plots import plot_pca

    scale = 2 if ae["size"] <= 64 else 1
    samples = torch.cat([ae["_images"]["standard"], ae["_images"]["fitted"], vae["_images"]["standard"],
                         vae["_images"]["fitted"]])
    p1 = ctx.file(f"prior_samples_{size}.png")
    save_grid(samples, p1, nrow=8, scale=scale, row_labels=["AE N(0,I)", "AE fitted", "VAE N(0,I)", "VAE fitted"])
    morphs = [f for m in (ae, vae) for f in m["_images"]["morphs"]]
    p2 = ctx.file(f"morphs_{size}.png")
    save_grid(torch.cat(morphs), p2, nrow=FRAMES, scale=scale,
              row_labels=["AE"] * len(ae["_images"]["morphs"]) + ["VAE"] * len(vae["_images"]["morphs"]))
    hue = next((c for c in label_columns(ds.labels or {}) if c.name == "hair_hue"), None)
    p3 = plot_pca([ae["_stats"], vae["_stats"]], ["AE z=256", "VAE z=50"], hue, ctx.file(f"code_map_{size}.png"))
    return {f"Decoded sampled codes, {size} px (rows: AE N(0,I), AE fitted, VAE N(0,I), VAE fitted)": p1,
            f"Morphs between held-out faces, {size} px (AE rows, then VAE rows)": p2,
            f"2-D PCA map of the codes, {size} px": p3}


def run(ctx: Context) -> Result:
    from animegen.data.sources import open_source

    n = ctx.count(FACES, 32)
    rows: list[Row] = []
    numbers: dict[str, Any] = {"sizes": {}, "runs": {}}
    images: dict[str, Any] = {}
    for size in SIZES:
        ae, vae = S.face_model(ctx, "ae", size), S.face_model(ctx, "vae", size)
        numbers["runs"].update({ae.key: str(ae.run), vae.key: str(vae.run)})
        ds = open_source(S.held_out_source(ctx, n), size=vae.size, channels=3)
        from animegen.imaging import to_tensor

        real = to_tensor(ds.images[S.pick(2 * n, len(ds), ctx.seed + 1)])  # [≤2n, C, H, W]
        half = max(1, len(real) // 2)
        ref = S.features(real[:half])
        base = float(S.nn_distance(S.features(real[half:]), ref).median()) if len(real) > 1 else 1.0
        sharp = max(float(S.sharpness(real).median()), 1e-12)
        m_ae = measure(ae, ds, ref, base, n, ctx.count(PAIRS, 2), ctx.seed, sharp)
        m_vae = measure(vae, ds, ref, base, n, ctx.count(PAIRS, 2), ctx.seed, sharp)
        setup = (f"{vae.size} px, {S.face_source(ctx)}, AE {m_ae['steps']} / VAE {m_vae['steps']} steps "
                 f"({ctx.budget(S.CPU_MINUTES['ae']):.3g} / {ctx.budget(S.CPU_MINUTES['vae']):.3g} CPU-min), "
                 f"{len(m_vae['_stats']['index'])} held-out faces")
        rows += rows_for(vae.size, m_ae, m_vae, setup)
        images.update(_save_images(ctx, vae.size, m_ae, m_vae, ds))
        numbers["sizes"][str(vae.size)] = {"data_nn_distance": base, "measured": S.held_out_source(ctx, n),
                                           **{nm: {k: v for k, v in m.items() if not k.startswith("_")}
                                              for nm, m in (("ae", m_ae), ("vae", m_vae))}}
    notes = ["Features are pixels at 32 px (area-averaged), a cheap stand-in for Inception features; every "
             "distance is divided by the real faces' own nearest-neighbour distance, so 1 means 'like data'. "
             "Pixel distances favour blur (a blurred face sits near many faces), so sharpness (variance of the "
             "Laplacian, relative to real faces) is reported beside them.",
             "The article trained ~4,000 real heads for 1,000 epochs on a GPU; these runs see synthetic faces for "
             "minutes of one CPU thread, so absolute spreads are not comparable, only the AE/VAE contrast."]
    return Result(rows=rows, numbers=numbers, images=images, notes=notes)
