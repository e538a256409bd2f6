"""Attribute directions in latent space, and how much moving along them changes each attribute.

A direction is the normalised difference between the mean code of the images that have an attribute and
the mean code of those that do not (a class vs the rest; for a continuous attribute the top vs the bottom
quartile). Beside each: the held-out balanced accuracy of a linear probe on the same split
(:func:`animegen.latent.probe.linear_probe`). For a model without an encoder (a GAN) codes are sampled,
the generated images labelled by the image probe, and directions found in z: the InterFaceGAN recipe of
Shen et al. 2020 ("Interpreting the Latent Space of GANs for Semantic Face Editing"), with a mean
difference in place of the SVM normal.

    model = animegen.load("runs/vae-1/final.safetensors")
    ds = open_source("synth:4000", size=64)
    dirs = find_directions(encode_images(model, ds.images), label_columns(ds.labels))
    save_directions("out/", dirs)      # directions.safetensors (a codes file) + directions.json
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from animegen.latent.probe import ImageProbe, LabelColumn, hue_class, linear_probe, split_mask

QUANTILE = 0.25
"""Continuous attributes: the direction runs from the mean code of the bottom quartile to that of the top."""


@dataclass
class Split:
    """A binary split of the data set that defines one direction."""

    name: str  # "mouth=smile", "blush", a tag name
    attribute: str  # the label column it comes from
    target: np.ndarray  # [N] 1 = has it, 0 = not, -1 = unknown / middle quantiles
    rule: str  # how the split was made, in words
    cls: int | None = None  # class index for class columns


@dataclass
class Directions:
    vectors: Tensor  # [A, D] unit rows
    names: list[str]
    info: list[dict[str, Any]] = field(default_factory=list)  # per direction: attribute, rule, counts, accuracy, ...

    def __len__(self) -> int:
        return len(self.names)


def splits_of(columns: list[LabelColumn], min_count: int = 5) -> list[Split]:
    """One split per class (a binary 0/1 tag column gives one, named like the column) and one per continuous
    attribute; splits with fewer than ``min_count`` images on a side are skipped."""
    out = []
    for c in columns:
        ok = c.known()
        if c.is_class:
            assert c.classes is not None
            binary = c.classes == ("0", "1")
            for k, cls_name in enumerate(c.classes):
                if binary and k == 0:
                    continue
                t = np.where(ok, (c.values == k).astype(np.int64), -1)
                name = c.name if binary else f"{c.name}={cls_name}"
                out.append(Split(name, c.name, t, f"{name} vs the rest", k))
        else:
            v = c.values
            lo, hi = np.nanquantile(v[ok], [QUANTILE, 1 - QUANTILE]) if ok.any() else (0.0, 0.0)
            t = np.full(len(v), -1, dtype=np.int64)
            t[ok & (v >= hi)] = 1
            t[ok & (v <= lo)] = 0
            out.append(Split(c.name, c.name, t, f"top vs bottom {int(QUANTILE * 100)}% of {c.name}"))
    return [s for s in out if (s.target == 1).sum() >= min_count and (s.target == 0).sum() >= min_count]


def find_directions(codes: Tensor, columns: list[LabelColumn], test_frac: float = 0.2, seed: int = 0,
                    min_count: int = 5) -> Directions:
    """Mean-difference directions ``[A, D]`` from codes ``[N, D]`` on the training rows, each with the held-out
    balanced accuracy of a logistic probe on the same split (and R² of a ridge probe for continuous ones)."""
    test = split_mask(len(codes), test_frac, seed)
    z = codes.double()
    proj_std = []
    vecs, names, info = [], [], []
    by_name = {c.name: c for c in columns}
    for s in splits_of(columns, min_count):
        pos = torch.from_numpy((s.target == 1) & ~test)
        neg = torch.from_numpy((s.target == 0) & ~test)
        if not bool(pos.any()) or not bool(neg.any()):
            continue
        diff = z[pos].mean(0) - z[neg].mean(0)  # [D]
        length = float(diff.norm())
        if not np.isfinite(length) or length == 0.0:
            continue
        d = diff / length
        proj = z @ d  # [N]
        proj_std.append(float(proj.std()))
        score = linear_probe(codes, s.target, test, "binary")
        row: dict[str, Any] = {"name": s.name, "attribute": s.attribute, "rule": s.rule,
                               "n_pos": int((s.target == 1).sum()), "n_neg": int((s.target == 0).sum()),
                               "probe_balanced_accuracy": score.value, "n_test": score.n_test,
                               "mean_difference_norm": length, "projection_std": proj_std[-1]}
        col = by_name[s.attribute]
        if not col.is_class:
            row["probe_r2"] = linear_probe(codes, col.values, test, "value").value
        vecs.append(d.float())
        names.append(s.name)
        info.append(row)
    if not vecs:
        from animegen.errors import DataError

        raise DataError("no attribute has enough labelled images on both sides to define a direction "
                        f"(need >= {min_count} per side)")
    return Directions(torch.stack(vecs), names, info)  # [A, D]


def save_directions(folder: str | os.PathLike, dirs: Directions, extra: dict[str, Any] | None = None) -> Path:
    """``folder/directions.safetensors`` (a codes file: rows = unit directions, labels = names, ``extra.kind =
    "directions"``) and ``folder/directions.json``; returns the safetensors path."""
    from animegen.fsutil import atomic_write_json
    from animegen.latent.codes import save_codes

    folder = Path(folder)
    meta = {"kind": "directions", "method": "mean difference of codes (class vs rest; top vs bottom quartile)",
            "probe": "logistic regression on standardised codes, held-out balanced accuracy",
            "accuracy": {r["name"]: r["probe_balanced_accuracy"] for r in dirs.info},
            "directions": dirs.info, **(extra or {})}
    path = save_codes(folder / "directions.safetensors", dirs.vectors, dirs.names, extra=meta)
    atomic_write_json(folder / "directions.json", meta, mark=True)
    return path


# ----------------------------------------------------------------------------- codes of images, labels of GANs


@torch.no_grad()
def encode_images(model, images: np.ndarray, batch_size: int = 256) -> Tensor:
    """uint8 ``[N, H, W, C]`` → codes ``[N, latent_dim]`` (posterior means for a VAE)."""
    from animegen.latent.codes import model_input
    from animegen.latent.prior import encode_all
    from animegen.progress import progress

    dev = next(model.parameters()).device

    def batches():
        for i in progress(range(0, len(images), batch_size), desc="encoding", unit="batch"):
            yield model_input(np.asarray(images[i:i + batch_size]), model)[0].to(dev)

    return encode_all(model.encode, batches())


@torch.no_grad()
def decode_batched(model, z: Tensor, batch_size: int = 256) -> Tensor:
    dev = next(model.parameters()).device
    return torch.cat([model.decode(z[i:i + batch_size].to(dev)).float().cpu().clamp(-1, 1)
                      for i in range(0, len(z), batch_size)])  # [N, C, H, W]


def probe_columns(probe: ImageProbe, images: Tensor) -> list[LabelColumn]:
    """Label images ``[N, C, H, W]`` with the image probe: argmax class, predicted value."""
    pred = probe.predict(images)
    cols = []
    for t in probe.config.targets:
        p = pred[t.name].numpy()
        if t.classes:
            cols.append(LabelColumn(t.name, p.argmax(1).astype(np.int64), tuple(t.classes)))
        else:
            cols.append(LabelColumn(t.name, p.astype(np.float32), None, t.low, t.high))
    return cols


def sample_and_label(model, probe: ImageProbe, n: int, seed: int = 0) -> tuple[Tensor, list[LabelColumn]]:
    """For a model without an encoder: ``n`` prior codes and the probe's labels of their images."""
    z = model.sample_latent(n, generator=torch.Generator().manual_seed(seed)).float().cpu()  # [n, D]
    return z, probe_columns(probe, decode_batched(model, z))


# ----------------------------------------------------------------------------- effects and the grid


def random_directions(n: int, dim: int, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n, dim, generator=g)
    return v / v.norm(dim=1, keepdim=True)  # [n, D]


def _change(before: Tensor, after: Tensor) -> Tensor:
    """Per image: total-variation distance of class probabilities [B, K], or |Δ| of values [B]."""
    if before.ndim == 2:
        return 0.5 * (after - before).abs().sum(1)
    return (after - before).abs()


@torch.no_grad()
def direction_effects(model, probe: ImageProbe, codes: Tensor, dirs: Directions, alpha: float = 2.0,
                      extra_random: int = 1, seed: int = 0) -> dict[str, Any]:
    """How much moving codes ``[N, D]`` by ``+alpha`` projection-stds along each direction changes each
    attribute, as the image probe sees the decoded images.

    Cell = mean over the N faces of the change of the probe's prediction for that attribute: for a class
    attribute the total-variation distance between the class probabilities before and after (0..1), for a
    continuous one the absolute change divided by the attribute's range (0..1). ``extra_random`` random unit
    directions (step = the mean step of the real ones) give the floor. Also per direction: the signed change of
    its own target (probability of its class, or its value in range units).
    """
    targets = probe.config.targets
    base = probe.predict(decode_batched(model, codes))
    rows, names, own = [], [], []
    std_mean = float(np.mean([r["projection_std"] for r in dirs.info])) if dirs.info else 1.0
    rand = random_directions(extra_random, codes.shape[1], seed)
    todo: list[tuple[str, Tensor, float, dict[str, Any] | None]]
    todo = [(n, v, float(r["projection_std"]), r) for n, v, r in zip(dirs.names, dirs.vectors, dirs.info, strict=True)]
    todo += [(f"random#{i}", rand[i], std_mean, None) for i in range(extra_random)]
    by_target = {t.name: t for t in targets}
    for name, d, sd, row in todo:
        moved = probe.predict(decode_batched(model, codes + alpha * sd * d[None]))
        cells = []
        for t in targets:
            ch = _change(base[t.name], moved[t.name])
            if t.classes is None:
                ch = ch / (t.high - t.low)
            cells.append(float(ch.mean()))
        rows.append(cells)
        names.append(name)
        signed = None
        if row is not None and row["attribute"] in by_target:
            t = by_target[row["attribute"]]
            if t.classes and "=" in name:
                k = list(t.classes).index(name.split("=", 1)[1]) if name.split("=", 1)[1] in t.classes else None
                if k is not None:
                    signed = float((moved[t.name][:, k] - base[t.name][:, k]).mean())
            elif t.classes is None:
                signed = float((moved[t.name] - base[t.name]).mean()) / (t.high - t.low)
        own.append(signed)
    return {"directions": names, "attributes": [t.name for t in targets], "matrix": rows,
            "target_change": own, "alpha_in_projection_stds": alpha, "n_faces": int(len(codes)),
            "cell": "mean change of the image probe's prediction: total-variation distance of class "
                    "probabilities, or |change| / attribute range"}


@torch.no_grad()
def direction_grid(model, codes: Tensor, dirs: Directions, steps: tuple[float, ...] = (-2, -1, 0, 1, 2),
                   max_rows: int = 32) -> tuple[np.ndarray, list[str]]:
    """A uint8 grid: one row per direction (at most ``max_rows``, the best-probed first), columns = the faces
    of ``codes`` ``[F, D]`` moved by each of ``steps`` projection-stds."""
    from animegen.imaging import make_grid

    order = sorted(range(len(dirs)), key=lambda i: -np.nan_to_num(dirs.info[i]["probe_balanced_accuracy"]))
    order = sorted(order[:max_rows])
    tiles, labels = [], []
    for i in order:
        sd = float(dirs.info[i]["projection_std"])
        zs = torch.cat([codes + s * sd * dirs.vectors[i][None] for s in steps])  # [S*F, D], step-major
        imgs = decode_batched(model, zs).view(len(steps), len(codes), *decode_shape(model))
        tiles.append(imgs.transpose(0, 1).reshape(-1, *decode_shape(model)))  # face-major: F blocks of S
        labels.append(dirs.names[i])
    cols = [f"{s:+g} sd" for _ in range(len(codes)) for s in steps]  # the default font has no σ
    grid = make_grid(torch.cat(tiles), nrow=len(steps) * len(codes), row_labels=labels, col_labels=cols)
    return grid, [dirs.names[i] for i in order]


def decode_shape(model) -> tuple[int, int, int]:
    return tuple(model.spec.shape)  # type: ignore[return-value]


__all__ = ["Directions", "Split", "decode_batched", "direction_effects", "direction_grid", "encode_images",
           "find_directions", "hue_class", "probe_columns", "random_directions", "sample_and_label",
           "save_directions", "splits_of"]
