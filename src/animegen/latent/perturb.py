"""Perturbing one code: random noise, per-dimension sweeps, principal axes, saved attribute directions.

Usage::

    model = animegen.load("runs/vae-1/final.safetensors")
    z0 = resolve_codes(model, ["face.png"]).z[0]                        # [latent_dim]
    result = perturb(model, z0, "random", eps=0.5, n=8)                  # result.frames, result.numbers()

Modes (``--mode``):

``random``          z + ε·N(0, I), ``n`` samples (seed 000's experiment: small ε changes eyes, mouth, hair)
``dims``            each of ``n`` dimensions swept by −ε … +ε: the first ``n``, or with dataset codes the ``n``
                    with the largest variance over the data (the "active units" measure, Burda et al. 2016)
``pca``             the first ``n`` principal axes of a dataset's codes, swept by −ε·σ … +ε·σ (σ: the axis'
                    standard deviation). A GAN cannot encode data, so its axes come from GANSpace (Härkönen et
                    al. 2020): PCA of the generator's first activations for sampled z, regressed back onto z
``direction:NAME``  a saved direction (a codes file whose labels are attribute names, unit rows), swept by
                    −ε … +ε; ``direction`` alone sweeps the first ``n`` directions of the file
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from animegen.errors import AnimegenError
from animegen.latent.decoding import decode_codes, pixel_change

SWEEP = (-1.0, -0.5, 0.0, 0.5, 1.0)
"""Columns of a sweep, in units of ε (times σ for ``pca``); the middle column is the unchanged code."""
MODES = ("random", "dims", "pca", "direction")
GANSPACE_SAMPLES = 1024


class PerturbError(AnimegenError):
    """A perturbation that cannot be done as asked (unknown mode or direction, missing data)."""


def parse_mode(mode: str) -> tuple[str, list[str]]:
    """``"direction:a,b"`` → ``("direction", ["a", "b"])``; ``"pca"`` → ``("pca", [])``."""
    kind, _, names = str(mode).strip().partition(":")
    if kind not in MODES or (names and kind != "direction"):
        raise PerturbError(f"unknown --mode {mode!r}; choose random, dims, pca or direction[:NAME]")
    return kind, [s.strip() for s in names.split(",") if s.strip()]


@dataclass
class Perturbation:
    """Decoded perturbations of one code, laid out as a grid, and what they measured."""

    mode: str
    eps: float
    base: Tensor  # [D] the unperturbed code
    z: Tensor  # [N, D] codes of the frames, row-major in the grid
    frames: Tensor  # [N, C, H, W] in [-1, 1]
    ncol: int  # frames per grid row
    row_labels: list[str] = field(default_factory=list)
    col_labels: list[str] = field(default_factory=list)
    scales: list[float] = field(default_factory=list)  # per row: the latent distance of one ε (σ for pca)
    notes: list[str] = field(default_factory=list)

    def numbers(self) -> dict:
        base_img = _base_image(self)
        change = pixel_change(self.frames, base_img.expand_as(self.frames))  # [N]
        dist = (self.z - self.base[None]).norm(dim=1)  # [N]
        out: dict = {"mode": self.mode, "eps": self.eps, "frames": int(self.z.shape[0]), "columns": self.ncol,
                     "base_code_norm": round(float(self.base.norm()), 5),
                     "mean_pixel_change": round(float(change.mean()), 4),
                     "max_pixel_change": round(float(change.max()), 4)}
        if self.mode == "random":
            out["code_distance"] = [round(float(x), 5) for x in dist[1:]]
            out["pixel_change"] = [round(float(x), 4) for x in change[1:]]
            return out
        rows = []
        for r, label in enumerate(self.row_labels):
            sl = slice(r * self.ncol, (r + 1) * self.ncol)
            rows.append({"axis": label, "scale": round(self.scales[r], 6),
                         "code_distance_at_ends": round(float(dist[sl].max()), 5),
                         "pixel_change_minus": round(float(change[sl][0]), 4),
                         "pixel_change_plus": round(float(change[sl][-1]), 4)})
        out["sweep"] = list(SWEEP)
        out["rows"] = rows
        return out


def _base_image(p: Perturbation) -> Tensor:
    """The unperturbed code's image ``[1, C, H, W]`` (the grid holds it: column 0 of random, the middle of sweeps)."""
    idx = 0 if p.mode == "random" else SWEEP.index(0.0)
    return p.frames[idx : idx + 1]


# ----------------------------------------------------------------------------- axes


def top_dims(n: int, latent_dim: int, data_codes: Tensor | None = None) -> tuple[Tensor, list[str], list[str]]:
    """Unit axes ``[n, D]`` for the first ``n`` dimensions, or the ``n`` with the largest variance over
    ``data_codes [N, D]``; their labels; notes."""
    notes = []
    if n > latent_dim:
        notes.append(f"the latent has {latent_dim} dimensions; sweeping all of them instead of {n}")
        n = latent_dim
    if data_codes is not None and data_codes.shape[0] >= 2:
        var = data_codes.float().var(dim=0)  # [D]
        idx = torch.argsort(var, descending=True)[:n]
        labels = [f"dim {int(i)} (var {float(var[i]):.3g})" for i in idx]
    else:
        idx = torch.arange(n)
        labels = [f"dim {int(i)}" for i in idx]
        notes.append(f"dims: sweeping the first {n} dimensions; pass --data to sweep the {n} most active ones")
    return torch.eye(latent_dim)[idx], labels, notes


def pca_axes(codes: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Principal axes ``[n, D]`` (unit rows, by decreasing variance) and their standard deviations ``[n]``
    of codes ``[N, D]``."""
    if codes.shape[0] < 2:
        raise PerturbError("pca needs the codes of at least 2 images (pass a larger --data)")
    x = codes.double() - codes.double().mean(0, keepdim=True)  # [N, D]
    _, s, vh = torch.linalg.svd(x, full_matrices=False)  # vh [min(N, D), D]
    n = min(n, vh.shape[0])
    axes = vh[:n]  # [n, D]
    axes = axes * torch.where(axes.sum(1, keepdim=True) < 0, -1.0, 1.0)  # a fixed sign per axis (stable output)
    return axes.float(), (s[:n] / (codes.shape[0] - 1) ** 0.5).float()


def early_activations(model) -> nn.Module:
    """The generator's layers up to and including its first nonlinearity (GANSpace's "early layer")."""
    gen = getattr(model, "generator", None)
    if not isinstance(gen, nn.Sequential):
        raise PerturbError(f"pca needs dataset codes, and this {model.family} model can neither encode data nor "
                           "expose a layered generator; modes that work: random, dims, direction:NAME")
    layers: list[nn.Module] = []
    for layer in gen:
        layers.append(layer)
        if isinstance(layer, (nn.ReLU, nn.LeakyReLU, nn.SiLU, nn.GELU)):
            return nn.Sequential(*layers)
    raise PerturbError("pca (GANSpace) found no activation in the generator; modes that work: random, dims, "
                       "direction:NAME")


@torch.no_grad()
def ganspace_axes(model, n: int, samples: int = GANSPACE_SAMPLES, seed: int = 0) -> tuple[Tensor, Tensor]:
    """GANSpace (Härkönen et al. 2020, sec. 2): PCA of early generator activations ``y`` of sampled z, then
    a linear regression of z on the PCA coordinates maps each principal component back to a z direction.

    Returns unit z-axes ``[n, D]`` and, per axis, the z-distance of one standard deviation along it ``[n]``.
    """
    head = early_activations(model)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        z = torch.randn(samples, model.latent_dim, generator=torch.Generator().manual_seed(seed))  # [S, D]
        y = torch.cat([head(z[i : i + 256].to(device)).flatten(1).float().cpu()
                       for i in range(0, samples, 256)])  # [S, F]
    finally:
        model.train(was_training)
    y = y - y.mean(0, keepdim=True)
    k = min(n, model.latent_dim, samples - 1, y.shape[1])
    with torch.random.fork_rng(devices=[]):  # pca_lowrank draws from the global RNG: seed it, leave it untouched
        torch.manual_seed(seed)
        _, _, v = torch.pca_lowrank(y, q=k, center=False, niter=2)  # v [F, k] (randomised SVD, Halko et al. 2011)
    x = y @ v  # [S, k] PCA coordinates
    u = torch.linalg.lstsq(x.double(), z.double()).solution.float()  # [k, D]: z ≈ x u
    sd = x.std(dim=0)  # [k]
    length = u.norm(dim=1).clamp_min(1e-12)  # [k]
    axes = u / length[:, None]
    order = torch.argsort(sd, descending=True)  # lowrank returns them sorted already; make it explicit
    return axes[order].float(), (sd * length)[order].float()


def direction_axes(directions: tuple[Tensor, list[str]], names: list[str], n: int,
                   latent_dim: int) -> tuple[Tensor, list[str], list[str]]:
    """Pick rows of a directions file ``(z [R, D], labels)`` by name (or the first ``n``) → unit axes, labels, notes."""
    z, labels = directions
    notes = []
    if z.shape[1] != latent_dim:
        raise PerturbError(f"the directions have {z.shape[1]} dimensions, the model's latent has {latent_dim}: "
                           "they were made for another model")
    if names:
        unknown = [s for s in names if s not in labels]
        if unknown:
            raise PerturbError(f"unknown direction {', '.join(map(repr, unknown))}; the file has: {', '.join(labels)}")
        idx = [labels.index(s) for s in names]
    else:
        idx = list(range(min(n, len(labels))))
        if n > len(labels):
            notes.append(f"the directions file holds {len(labels)} direction(s); sweeping all of them")
    rows = z[idx].float()  # [R, D]
    length = rows.norm(dim=1)
    if (length < 1e-12).any():
        raise PerturbError("a direction in the file has length 0")
    return rows / length[:, None], [labels[i] for i in idx], notes


@torch.no_grad()
def dataset_codes(model, source: str, limit: int = 2000, seed: int = 0,
                  batch_size: int = 128) -> tuple[Tensor, list[str]]:
    """Codes ``[N, D]`` of up to ``limit`` images of a data source (a seeded random subset when larger), encoded
    by an AE/VAE in eval mode; notes."""
    from animegen.data.sources import open_source
    from animegen.imaging import to_tensor
    from animegen.progress import progress

    if not getattr(model, "has_encoder", False):
        raise PerturbError(f"this {model.family} model cannot encode --data (no encoder)")
    ds = open_source(source, size=model.spec.size, channels=model.spec.channels, quiet=True)
    idx = torch.arange(len(ds))
    notes = []
    if len(ds) > limit:
        idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:limit].sort().values
        notes.append(f"--data: encoded a random {limit} of its {len(ds)} images")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        parts = [model.encode(to_tensor(ds.images[idx[i : i + batch_size].numpy()]).to(device)).float().cpu()
                 for i in progress(range(0, len(idx), batch_size), desc="encoding --data", unit="batch")]  # [b, D]
    finally:
        model.train(was_training)
    return torch.cat(parts), notes


# ----------------------------------------------------------------------------- the perturbations


def random_codes(z0: Tensor, eps: float, n: int, seed: int = 0) -> Tensor:
    """``n`` codes z0 + ε·N(0, I) ``[n, D]`` (same seed, same noise)."""
    noise = torch.randn(n, z0.shape[0], generator=torch.Generator().manual_seed(seed))  # [n, D]
    return z0.float()[None] + eps * noise


def sweep_codes(z0: Tensor, axes: Tensor, scales: Tensor, eps: float) -> Tensor:
    """``[R * len(SWEEP), D]``: for each axis r, z0 + c·ε·scale_r·axis_r for c in :data:`SWEEP` (row-major)."""
    c = torch.tensor(SWEEP)  # [S]
    steps = c[None, :, None] * (eps * scales.float())[:, None, None] * axes.float()[:, None, :]  # [R, S, D]
    z = z0.float()[None, None] + steps  # [R, S, D]
    z[:, SWEEP.index(0.0)] = z0.float()
    return z.reshape(-1, z0.shape[0])


def perturb(model, z0: Tensor, mode: str, eps: float, n: int, seed: int = 0, data_codes: Tensor | None = None,
            directions: tuple[Tensor, list[str]] | None = None) -> Perturbation:
    """Perturb code ``z0 [D]`` (module doc); ``data_codes [N, D]`` feed ``dims``/``pca``, ``directions`` the
    ``direction`` mode."""
    if eps < 0:
        raise PerturbError(f"eps must be >= 0, got {eps}")
    if n < 1:
        raise PerturbError(f"n must be >= 1, got {n}")
    kind, names = parse_mode(mode)
    z0 = z0.detach().float().cpu().reshape(-1)
    d = model.latent_dim
    notes: list[str] = []
    if kind == "random":
        z = torch.cat([z0[None], random_codes(z0, eps, n, seed)])  # [1 + n, D]
        ncol = min(n + 1, 8)
        return Perturbation(kind, eps, z0, z, decode_codes(model, z), ncol, notes=notes)
    if kind == "dims":
        axes, labels, notes = top_dims(n, d, data_codes)
        scales = torch.ones(len(labels))
    elif kind == "pca":
        if data_codes is not None:
            axes, scales = pca_axes(data_codes, n)
            labels = [f"pc{i + 1} (sd {float(s):.3g})" for i, s in enumerate(scales)]
        else:
            if getattr(model, "has_encoder", False):
                raise PerturbError("pca needs --data DATASET: the principal axes come from the codes of its images")
            axes, scales = ganspace_axes(model, n, seed=seed)
            labels = [f"gs{i + 1} (sd {float(s):.3g})" for i, s in enumerate(scales)]
            notes.append(f"pca: GANSpace axes from {GANSPACE_SAMPLES} sampled codes (Härkönen et al. 2020)")
        if len(labels) < n:
            notes.append(f"pca: only {len(labels)} principal axes exist; sweeping all of them instead of {n}")
    else:
        if directions is None:
            raise PerturbError("--mode direction needs --directions FILE (written by `animegen directions`)")
        axes, labels, notes = direction_axes(directions, names, n, d)
        scales = torch.ones(len(labels))
    z = sweep_codes(z0, axes, scales, eps)  # [R * S, D]
    return Perturbation(kind, eps, z0, z, decode_codes(model, z), len(SWEEP), row_labels=labels,
                        col_labels=[_col_label(c, kind) for c in SWEEP], scales=[float(s) for s in scales],
                        notes=notes)


def _col_label(c: float, kind: str) -> str:
    """Column caption in ASCII (the default bitmap font has no Greek letters): ``-eps``, ``+0.5eps*sd``, ``z``."""
    if c == 0:
        return "z"
    unit = "eps*sd" if kind == "pca" else "eps"
    return f"{'+' if c > 0 else '-'}{'' if abs(c) == 1 else f'{abs(c):g}'}{unit}"
