"""blend (seed 000): does a 50/50 blend of two characters' codes carry features of both?

Pairs of held-out synthetic faces are encoded by the VAE (z = 50, 64 px); the blend (z_A + z_B) / 2 and both
inputs are decoded, and the image probe reads the class attributes (hair colour class, eye colour class, hair
style, bangs, mouth, ...) of the three decodes. For each attribute where the two inputs' decodes differ, the
blend takes it **from A**, **from B**, or from **neither** (a third class, e.g. purple between red and blue).
A pair "carries features of both" when at least one attribute comes from each input. The article's example,
"the eyes of one and the hair of the other", is checked on the pairs whose hair and eye colours both differ.
Blur (the article: blends can look blurry or patched): the blend's sharpness (variance of the Laplacian) over
the mean sharpness of the two inputs' decodes. Control: an unrelated face C decoded in place of the blend
shares some classes with A and some with B by chance; the blend must beat it.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from animegen.experiments import shared as S
from animegen.experiments.claims import claim
from animegen.experiments.core import Context, Result, Row
from animegen.experiments.probes import class_targets, predict_decoded
from animegen.experiments.shared import sharpness
from animegen.experiments.writeout import fmt

PAIRS = 96  # blended pairs at scale 1
WEIGHT = 0.5
BOTH_SHARE = 0.5  # "carries features of both": in at least half of the pairs
EXAMPLE_SHARE = 0.2  # "hair of one, eyes of the other": in at least a fifth of the eligible pairs
MARGIN = 0.1  # ... and this much above the control (an unrelated face in place of the blend)
HAIR, EYES = "hair_hue", "eye_hue"


def sources(probe, pa: dict, pb: dict, pm: dict) -> dict[str, torch.Tensor]:
    """Per class attribute ``[P]``: 0 = same in A and B, 1 = the mix takes A's class, 2 = B's, 3 = neither."""
    src = {}
    for nm in class_targets(probe):
        a, b, m = pa[nm].argmax(1), pb[nm].argmax(1), pm[nm].argmax(1)
        s = torch.zeros(len(a), dtype=torch.long)
        differ = a != b
        s[differ & (m == a)] = 1
        s[differ & (m == b)] = 2
        s[differ & (m != a) & (m != b)] = 3
        src[nm] = s
    return src


def summary(src: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Shares of the attribute sources over pairs (see the module doc); ``_both`` is the per-pair flag."""
    names = list(src)
    table = torch.stack([src[nm] for nm in names], 1)  # [P, A]
    from_a, from_b, neither = (table == 1).sum(1), (table == 2).sum(1), (table == 3).sum(1)  # [P] each
    differing = (table > 0).sum(1)
    both = (from_a > 0) & (from_b > 0)
    out: dict[str, Any] = {
        "mean_differing_attributes": float(differing.float().mean()),
        "share_pairs_with_both": float(both.float().mean()),
        "share_from_a": float(from_a.sum() / differing.sum().clamp_min(1)),
        "share_from_b": float(from_b.sum() / differing.sum().clamp_min(1)),
        "share_neither": float(neither.sum() / differing.sum().clamp_min(1)),
        "per_attribute": {nm: {"differing_pairs": int((src[nm] > 0).sum()),
                               "from_a": int((src[nm] == 1).sum()), "from_b": int((src[nm] == 2).sum()),
                               "neither": int((src[nm] == 3).sum())} for nm in names},
    }
    if HAIR in src and EYES in src:
        elig = (src[HAIR] > 0) & (src[EYES] > 0)
        split = elig & (((src[HAIR] == 1) & (src[EYES] == 2)) | ((src[HAIR] == 2) & (src[EYES] == 1)))
        out["hair_eyes_eligible_pairs"] = int(elig.sum())
        out["share_hair_of_one_eyes_of_other"] = float(split.sum() / elig.sum()) if elig.any() else float("nan")
    out["_both"] = both
    return out


@torch.no_grad()
def measure(model, probe, za: torch.Tensor, zb: torch.Tensor, zc: torch.Tensor | None = None,
            weight: float = WEIGHT) -> dict[str, Any]:
    """Codes ``[P, D]`` of the A and B inputs → attribute sources of the blend and the summary numbers.

    ``zc`` (codes of unrelated faces C): the control, where C's decode stands in for the blend; by chance an
    unrelated face already shares some classes with A and some with B.
    """
    xa, pa = predict_decoded(model, probe, za)
    xb, pb = predict_decoded(model, probe, zb)
    xm, pm = predict_decoded(model, probe, (1 - weight) * za + weight * zb)
    out: dict[str, Any] = {"pairs": int(len(za)), "weight": weight, "attributes": class_targets(probe),
                           **summary(sources(probe, pa, pb, pm))}
    if zc is not None:
        _, pc = predict_decoded(model, probe, zc)
        ctrl = summary(sources(probe, pa, pb, pc))
        ctrl.pop("_both")
        ctrl.pop("per_attribute")
        out["control_unrelated_face"] = ctrl
    sh = sharpness(xm) / (0.5 * (sharpness(xa) + sharpness(xb))).clamp_min(1e-12)  # [P]
    out["blend_sharpness_ratio"] = float(sh.median())
    return out


def rows_of(m: dict[str, Any], setup: str) -> list[Row]:
    c = claim("000.blend_both")
    ctrl = m.get("control_unrelated_face", {})
    both, both0 = m["share_pairs_with_both"], ctrl.get("share_pairs_with_both", 0.0)
    rows = [Row("a 50/50 blend carries features of both characters", c.article,
                f"{fmt(100 * both)} % of pairs (an unrelated face: {fmt(100 * both0)} %); differing attributes "
                f"from A {fmt(100 * m['share_from_a'])} %, B {fmt(100 * m['share_from_b'])} %, neither "
                f"{fmt(100 * m['share_neither'])} %", setup,
                "reproduced" if both >= BOTH_SHARE and both >= both0 + MARGIN else "not reproduced",
                f"a pair counts when ≥ 1 probed class attribute comes from each input; reproduced at ≥ "
                f"{fmt(100 * BOTH_SHARE)} % of pairs and ≥ {fmt(100 * MARGIN)} points above the unrelated-face "
                "control")]
    inh = m["share_from_a"] + m["share_from_b"]
    inh0 = ctrl.get("share_from_a", 0.0) + ctrl.get("share_from_b", 0.0)
    rows.append(Row("the blend's features come from its two inputs", c.article,
                    f"{fmt(100 * inh)} % of differing attributes from A or B (an unrelated face: {fmt(100 * inh0)} %)",
                    setup, "reproduced" if inh >= inh0 + MARGIN else "not reproduced",
                    f"class attributes where A and B differ; reproduced ≥ {fmt(100 * MARGIN)} points above the "
                    "control"))
    share = m.get("share_hair_of_one_eyes_of_other")
    share0 = ctrl.get("share_hair_of_one_eyes_of_other", 0.0)
    if share is not None and np.isfinite(share):
        rows.append(Row("hair colour of one, eye colour of the other", c.article,
                        f"{fmt(100 * share)} % of {m['hair_eyes_eligible_pairs']} pairs whose hair and eye colours "
                        f"differ (an unrelated face: {fmt(100 * share0)} %)", setup,
                        "reproduced" if share >= EXAMPLE_SHARE and share > share0 else "not reproduced",
                        f"the article says it works sometimes; reproduced at ≥ {fmt(100 * EXAMPLE_SHARE)} % and "
                        "above the control"))
    r = m["blend_sharpness_ratio"]
    rows.append(Row("blends can look blurry or patched together", "sometimes blurry / stitched",
                    f"blend sharpness {fmt(r)}× the inputs' decodes (median); {fmt(100 * m['share_neither'])} % of "
                    "differing attributes match neither input", setup,
                    "reproduced" if r < 0.9 else "not reproduced",
                    "variance of the Laplacian; reproduced when the blend is ≥ 10 % less sharp"))
    return rows


def run(ctx: Context) -> Result:
    from animegen.data.sources import open_source
    from animegen.imaging import save_grid
    from animegen.latent.blend import blend_row
    from animegen.latent.directions import encode_images

    vae = S.face_model(ctx, "vae", 64)
    probe = S.probe_for(ctx, vae.size)
    p = ctx.count(PAIRS, 4)
    ds = open_source(S.held_out_source(ctx, 3 * p), size=vae.size, channels=3)
    idx = np.random.default_rng(ctx.seed).permutation(len(ds))[: 3 * p]
    codes = encode_images(vae.model, ds.images[np.sort(idx)])  # [3p, D]
    k = len(codes) // 3
    za, zb, zc = codes[:k], codes[k:2 * k], codes[2 * k:3 * k]  # A, B and the unrelated control faces C
    m = measure(vae.model, probe, za, zb, zc)
    both = m.pop("_both")
    setup = (f"VAE z=50, {vae.size} px, {S.face_source(ctx)}, {S.steps_of(vae)} steps; {m['pairs']} pairs of "
             f"{ds.name}, weight {WEIGHT}, {len(m['attributes'])} probed class attributes")
    order = torch.argsort(both.long(), descending=True)[:4]  # pairs with features of both first
    rows_img = [blend_row(vae.model, torch.stack([za[i], zb[i]]), 7)[0] for i in order.tolist()]
    grid = ctx.file("blends.png")
    save_grid(torch.cat(rows_img), grid, nrow=7, scale=2 if vae.size <= 32 else 1)
    notes = ["Attributes are read by the image probe from the decoded inputs, not from labels: a blend is "
             "compared with what the model itself makes of A and B.",
             "Continuous attributes (lightness, tilt, ...) are left out: a linear blend lands between the inputs "
             "by construction, so only class attributes can show 'from A' or 'from B'."]
    return Result(rows_of(m, setup), {"runs": {vae.key: str(vae.run)}, **m},
                  {"Blends of four pairs, weight of B 0 … 1 (pairs with features of both first)": grid}, notes)
