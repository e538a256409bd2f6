"""Statistics of an encoder's latent space: seed 000's AE-vs-VAE table and pictures.

Definitions (the article's table reads consistently with these: a VAE with per-dimension std ≈ 0.2 in 50
dimensions has a typical different-face distance of √(2·50)·0.2 = 2.0, its "> 2.0"):

* codes are ``model.encode(x)``: the AE's code, the VAE's posterior mean μ(x);
* **mean std**: the std of each code dimension over the data set, averaged over dimensions;
* **mean norm**: the Euclidean norm ‖z‖₂ of a code, averaged over the data set;
* **active units** (Burda et al. 2016, "Importance Weighted Autoencoders", §5.2): dimensions u with
  Cov_x(E_q[z_u | x]) > 0.01;
* **per-dimension KL** (VAE): E_x KL(q(z_u | x) ‖ N(0, 1)) = ½ E_x[μ² + σ² − log σ² − 1]
  (Kingma & Welling 2014, App. B), from ``model.posterior(x)``;
* **distances**: Euclidean distances between codes of the same face under small augmentations (a 1 px
  shift, ±5 % brightness, light noise), of the same synthetic identity with another expression (mouth and
  eyes re-rendered with the same nuisance jitter), and of different faces (random pairs).

    s = latent_stats(model, ds)          # dict: mean_std, mean_norm, active_units, kl, distances, ...
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from animegen.data.sources import ImageSet
from animegen.errors import AnimegenError

ACTIVE_THRESHOLD = 0.01


class NoEncoder(AnimegenError):
    """latent-stats needs codes of data images, which a GAN cannot produce without inversion."""


def code_stats(codes: Tensor, threshold: float = ACTIVE_THRESHOLD) -> dict[str, Any]:
    """Spread of codes ``[N, D]``: per-dimension mean/std, mean std, mean norm, active units."""
    z = codes.double()
    var = z.var(0, unbiased=True) if len(z) > 1 else torch.zeros(z.shape[1], dtype=z.dtype)  # [D]
    std = var.sqrt()
    return {"n": int(len(z)), "latent_dim": int(z.shape[1]), "mean_std": float(std.mean()),
            "mean_norm": float(z.norm(dim=1).mean()), "norm_of_mean": float(z.mean(0).norm()),
            "active_units": int((var > threshold).sum()), "active_threshold": threshold,
            "per_dim": {"mean": z.mean(0).float().tolist(), "std": std.float().tolist()}}


def kl_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
    """E_x KL(q(z_u|x) ‖ N(0, 1)) per dimension ``[D]`` from posterior parameters ``[N, D]`` each
    (Kingma & Welling 2014, App. B)."""
    return 0.5 * (mu.double() ** 2 + logvar.double().exp() - logvar.double() - 1).mean(0)


@torch.no_grad()
def posterior_stats(model, x: Tensor, batch_size: int = 256) -> dict[str, Any]:
    """Per-dimension KL and the mean posterior std of a VAE over images ``[N, C, H, W]``."""
    dev = next(model.parameters()).device
    mus, lvs = [], []
    for i in range(0, len(x), batch_size):
        mu, lv = model.posterior(x[i:i + batch_size].to(dev))  # [B, D] each
        mus.append(mu.float().cpu())
        lvs.append(lv.float().cpu())
    mu, lv = torch.cat(mus), torch.cat(lvs)
    kl = kl_per_dim(mu, lv)
    return {"kl_total": float(kl.sum()), "kl_per_dim": kl.float().tolist(),
            "mean_posterior_std": float((0.5 * lv.double()).exp().mean()),
            "dims_with_kl_above_0.01": int((kl > 0.01).sum())}


def augment(x: Tensor, seed: int = 0, max_shift: int = 1, brightness: float = 0.05, noise: float = 0.02) -> Tensor:
    """Small augmentations of images ``[N, C, H, W]`` in [-1, 1]: each image shifted by 1..max_shift pixels
    in a random direction (edge pixels repeated), its brightness scaled by 1 ± ``brightness``, plus Gaussian
    noise of std ``noise``."""
    g = torch.Generator().manual_seed(seed)
    out = torch.empty_like(x)
    pad = torch.nn.functional.pad(x, (max_shift,) * 4, mode="replicate")  # [N, C, H+2m, W+2m]
    h, w = x.shape[-2:]
    for i in range(len(x)):
        while True:
            dy, dx = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=g))
            if dy or dx:
                break
        out[i] = pad[i, :, max_shift + dy:max_shift + dy + h, max_shift + dx:max_shift + dx + w]
    scale = 1 + brightness * (2 * torch.rand(len(x), 1, 1, 1, generator=g) - 1)
    out = (out + 1) * scale - 1 + noise * torch.randn(out.shape, generator=g)
    return out.clamp(-1, 1)


def summarise(d: Tensor | np.ndarray) -> dict[str, float]:
    a = np.asarray(d, dtype=np.float64)
    if a.size == 0:
        return {"n": 0}
    q = np.quantile(a, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"n": int(a.size), "mean": float(a.mean()), "p5": float(q[0]), "p25": float(q[1]), "median": float(q[2]),
            "p75": float(q[3]), "p95": float(q[4])}


def other_expression(ds: ImageSet, idx: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """Synthetic faces ``idx`` re-rendered with another mouth and eye state (same identity and jitter), or
    None when ``ds`` is not a synthetic set."""
    from animegen.data.synth_draw import EYE_STATES, MOUTHS
    from animegen.data.synthetic import attribute_row, render_face

    if not ds.name.startswith("synth:") or not ds.labels or "mouth" not in ds.labels:
        return None
    data_seed = int(ds.meta.get("seed", 0))
    rng = np.random.default_rng(seed)
    out = np.empty((len(idx), *ds.images.shape[1:]), dtype=np.uint8)
    for j, i in enumerate(idx):
        a = attribute_row(ds.labels, int(i))
        a["mouth"] = int((a["mouth"] + rng.integers(1, len(MOUTHS))) % len(MOUTHS))
        a["eye_state"] = int(rng.integers(0, len(EYE_STATES)))
        out[j] = render_face(a, ds.size, data_seed, int(i))
    return out


@torch.no_grad()
def latent_stats(model, ds: ImageSet, n: int = 2000, pairs: int = 500, seed: int = 0,
                 keep_codes: bool = False) -> dict[str, Any]:
    """All statistics of the module doc for ``model`` on (up to) ``n`` images of ``ds``; ``pairs`` images
    for the augmentation and expression distances. With ``keep_codes`` the result holds ``"codes"``
    ``[n, D]`` and ``"index"`` (the rows used) for the figures."""
    from animegen.latent.codes import can_encode, model_input
    from animegen.latent.directions import encode_images

    if not can_encode(model):
        raise NoEncoder(f"latent-stats needs an encoder: a {model.family} model's codes of data images come only "
                        "from inversion (`animegen invert`), and the stats of its sampled codes are just N(0, I)")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.permutation(len(ds))[: min(n, len(ds))])
    codes = encode_images(model, ds.images[idx])  # [n, D]
    out: dict[str, Any] = {"family": model.family, **code_stats(codes)}
    if hasattr(model, "posterior"):
        out["kl"] = posterior_stats(model, model_input(np.asarray(ds.images[idx]), model)[0])
    k = min(pairs, len(idx))
    sub = idx[:k]
    x = model_input(np.asarray(ds.images[sub]), model)[0]  # [k, C, H, W]
    dev = next(model.parameters()).device
    za = model.encode(augment(x, seed).to(dev)).float().cpu()  # [k, D]
    zs = codes[:k]
    raw = {"same_face_augmented": (za - zs).norm(dim=1).numpy()}
    other = other_expression(ds, sub, seed)
    if other is not None:
        raw["same_identity_other_expression"] = (encode_images(model, other) - zs).norm(dim=1).numpy()
    a, b = rng.integers(0, len(codes), (2, 4 * k))
    keep = a != b
    raw["different_faces"] = (codes[a[keep]] - codes[b[keep]]).norm(dim=1).numpy()
    dist = {key: summarise(v) for key, v in raw.items()}
    ref = dist["different_faces"].get("median") or 1.0
    out["distances"] = dist
    out["distances_relative"] = {key: {s: v / ref for s, v in d.items() if s != "n"} for key, d in dist.items()}
    out["distance"] = "Euclidean distance between codes (relative: divided by the median different-face distance)"
    if keep_codes:
        out["codes"] = codes
        out["index"] = idx
        out["_distances_raw"] = raw
    return out


def pca_2d(codes: Tensor) -> tuple[np.ndarray, list[float]]:
    """Project codes ``[N, D]`` on their first two principal components → (``[N, 2]``, explained ratios)."""
    z = codes.double() - codes.double().mean(0)
    _, s, vt = torch.linalg.svd(z, full_matrices=False)
    var = s ** 2
    ratio = (var[:2] / var.sum().clamp_min(1e-30)).tolist()
    return (z @ vt[:2].T).numpy(), [float(r) for r in ratio]


TABLE_ROWS = (("mean std", "mean_std"), ("mean norm", "mean_norm"), ("active units", "active_units"))


def comparison_table(stats: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """Rows of seed 000's table (one column per model)."""
    rows = [{"quantity": label, **{nm: s[key] for nm, s in zip(names, stats, strict=True)}}
            for label, key in TABLE_ROWS]
    for key in ("same_face_augmented", "same_identity_other_expression", "different_faces"):
        if all(key in s["distances"] for s in stats):
            rows.append({"quantity": f"distance, {key.replace('_', ' ')} (median)",
                         **{nm: s["distances"][key]["median"] for nm, s in zip(names, stats, strict=True)}})
            rows.append({"quantity": f"distance, {key.replace('_', ' ')} (relative)",
                         **{nm: s["distances_relative"][key]["median"] for nm, s in zip(names, stats, strict=True)}})
    return rows
