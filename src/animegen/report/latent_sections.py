"""Report sections from the latent toolkit (:mod:`animegen.latent`): a blend row, perturbation grids and the
statistics of the codes. Each is a section function ``(run) -> Section | None`` like those of
:mod:`animegen.report.sections`, and calls the same library functions as ``animegen blend``, ``perturb`` and
``latent-stats``."""
from __future__ import annotations

import torch

from animegen.imaging import make_grid
from animegen.report import media
from animegen.report.html import Section
from animegen.report.rundata import RunData

BLEND_ROW = 8  # images in the blend row
PERTURB_N = 7  # random perturbations beside the original
PERTURB_EPS = 0.5  # ε of the random perturbation, in units of the codes' per-dimension std
PCA_AXES = 4  # principal axes swept in the PCA grid
STATS_MIN_FACES = 32  # fewer faces than this: no latent statistics


def _two_codes(run: RunData, model) -> tuple[torch.Tensor, str] | None:
    """Codes ``[2, D]`` of two training faces (models with an encoder) or two prior samples (GANs)."""
    codes = run.face_codes()
    if codes is not None and len(codes) >= 2:
        return codes[:2], "two training faces"
    if model.has_encoder and model.fitted_prior() is None:
        return None
    prior = "fitted" if model.fitted_prior() is not None else "standard"
    z = model.sample_latent(2, generator=torch.Generator().manual_seed(2), prior=prior).float().cpu()  # [2, D]
    return z, "two samples of the prior"


def blend_row(run: RunData) -> Section | None:
    """Two characters mixed by weight 0 … 1 (``animegen blend A B --grid``)."""
    from animegen.latent.blend import blend_row as row

    model = run.model()
    pair = _two_codes(run, model) if model is not None else None
    if pair is None:
        return None
    z, what = pair
    images, weights = row(model, z, BLEND_ROW)  # [BLEND_ROW, C, H, W]
    scale = max(1, 96 // images.shape[-1])
    pic = make_grid(images, nrow=BLEND_ROW, scale=scale, col_labels=[f"{w:.2g}" for w in weights])
    return Section("Blend").image(media.png_bytes(pic), f"the codes of {what} mixed with the second one's weight "
                                  "0 … 1 (animegen blend A B --grid 8)")


def perturbation(run: RunData) -> Section | None:
    """Random ε-perturbations of one code (seed 000's experiment) and, with data codes, sweeps along the
    principal axes of the codes (``animegen perturb --mode random|pca``)."""
    from animegen.latent.perturb import perturb

    model = run.model()
    pair = _two_codes(run, model) if model is not None else None
    if pair is None:
        return None
    z, what = pair
    codes = run.face_codes()
    if codes is not None and len(codes) < STATS_MIN_FACES:
        codes = None
    spread = float(codes.std(0).mean()) if codes is not None else 1.0
    eps = PERTURB_EPS * spread
    sec = Section("Perturbation")
    rnd = perturb(model, z[0], "random", eps, PERTURB_N, seed=0)
    scale = max(1, 96 // rnd.frames.shape[-1])
    sec.image(media.png_bytes(make_grid(rnd.frames, nrow=rnd.ncol, scale=scale)),
              f"the code of one of {what} (first image) plus ε·N(0, I), ε = {eps:.3g} "
              f"(animegen perturb --mode random)")
    if codes is not None or not model.has_encoder:
        pca = perturb(model, z[0], "pca", 1.0, PCA_AXES, seed=0, data_codes=codes)
        sec.image(media.png_bytes(make_grid(pca.frames, nrow=pca.ncol, scale=scale, row_labels=pca.row_labels,
                                            col_labels=pca.col_labels)),
                  "sweeps along the principal axes of the codes (GANSpace axes for a GAN; animegen perturb --mode pca)")
    return sec


def latent_statistics(run: RunData) -> Section | None:
    """Spread of the codes of training faces (seed 000's table) and, for a VAE, the KL per dimension
    (``animegen latent-stats``)."""
    from animegen.latent.stats import code_stats, posterior_stats

    model = run.model()
    codes = run.face_codes()
    if codes is None or len(codes) < STATS_MIN_FACES:
        return None
    faces = run.faces()
    st = code_stats(codes)
    rows = [[k, v] for k, v in st.items() if isinstance(v, (int, float))]
    if hasattr(model, "posterior"):
        kl = posterior_stats(model, faces)
        rows += [[f"kl {k}", v] for k, v in kl.items() if isinstance(v, (int, float))]
    return Section("Latent statistics").text(
        f"codes of {len(faces)} training faces (the full analysis: animegen latent-stats CKPT --data DATA)"
    ).table(["quantity", "value"], rows)
