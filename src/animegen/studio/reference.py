"""Reference faces of a model: what the Edit sliders, the variation scale and Inspect's statistics and nearest
faces are measured against.

The reference set is the run's own training source when it is synthetic (``synth:N``) or a folder/dataset that
still exists on this machine, else synthetic faces. Encoder models (AE/VAE) encode it: PCA axes of those codes
(:func:`animegen.latent.perturb.pca_axes`) and attribute directions from the synthetic labels
(:func:`animegen.latent.directions.find_directions`). GANs get GANSpace axes
(:func:`animegen.latent.perturb.ganspace_axes`) and no attribute directions.

    ref = build_reference(model, checkpoint_path)       # ref.axes [A, D], ref.axis_names, ref.codes [N, D], ...
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from animegen.errors import AnimegenError
from animegen.studio.catalog import BUNDLED_FILE

REFERENCE_SIZE = 1000
"""Faces in a reference set (encoded once per model)."""
PCA_AXES = 6
ATTRIBUTES = ("mouth=smile", "eye_state=closed", "hair_lightness", "hair_style=long", "blush", "accessory=glasses",
              "skin_tone", "bg_lightness")
"""Attribute directions offered as sliders, when the reference set has these labels (synthetic faces)."""
MAX_SLIDERS = 12
BUNDLED_SOURCE = "synth:8000"
"""What the bundled model was trained on (benchmarks/train_studio_model.py)."""


@dataclass
class Axis:
    """One editing direction: a unit vector in latent space and the code distance one slider unit moves."""

    name: str
    vector: Tensor  # [D] unit
    scale: float  # latent distance of slider value 1 (one standard deviation of the codes along it)
    kind: str  # "attribute" or "pca"


@dataclass
class Reference:
    source: str
    images: np.ndarray  # uint8 [N, H, W, C] at the model's size
    codes: Tensor | None  # [N, D] encoder codes (None for a GAN)
    axes: list[Axis] = field(default_factory=list)
    code_scale: float = 1.0  # mean per-dimension std of the codes (GAN: of the prior samples)
    notes: list[str] = field(default_factory=list)


def training_source(checkpoint: str | os.PathLike | None) -> str | None:
    """The ``data.source`` of the run a checkpoint belongs to, if its config.json says."""
    if checkpoint is None:
        return None
    from animegen.runs import find_config_dict

    cfg = find_config_dict(checkpoint)
    data = cfg.get("data") if isinstance(cfg, dict) else None
    source = data.get("source") if isinstance(data, dict) else None
    return source if isinstance(source, str) and source.strip() else None


def reference_source(checkpoint: str | os.PathLike | None, n: int = REFERENCE_SIZE) -> tuple[str, list[str]]:
    """Which data source to use as reference (module doc) and a note about the choice."""
    src = training_source(checkpoint)
    fallback = f"synth:{n}"
    if src is None and checkpoint is not None and Path(checkpoint).name == BUNDLED_FILE:
        src = BUNDLED_SOURCE  # the bundled model has no run folder beside it (assets/MODEL.md)
    if src is None:
        return fallback, [f"reference faces: {fallback} (no training source recorded)"]
    scheme = src.partition(":")[0]
    if scheme == "synth":  # synth:N renders face i the same way for every N: synth:1000 = the first 1000 of synth:8000
        return fallback, [f"reference faces: {fallback} (the model trained on {src})"]
    if scheme not in ("mnist", "hf") and Path(src).exists():
        return src, [f"reference faces: up to {n} of the training source {Path(src).name}"]
    return fallback, [f"reference faces: {fallback} (the training source {src} is not available here)"]


def _images(source: str, model, n: int, seed: int = 0) -> tuple[np.ndarray, dict | None]:
    from animegen.data.sources import open_source

    ds = open_source(source, size=model.spec.size, channels=model.spec.channels, quiet=True)
    idx = np.arange(len(ds))
    if len(ds) > n:
        idx = np.sort(np.random.default_rng(seed).choice(len(ds), n, replace=False))
    labels = {k: np.asarray(v)[idx] for k, v in ds.labels.items()} if ds.labels else None
    return np.ascontiguousarray(ds.images[idx]), labels


@torch.no_grad()
def encode(model, images: np.ndarray, batch_size: int = 256) -> Tensor:
    """uint8 ``[N, H, W, C]`` at the model's size → codes ``[N, D]`` (eval mode)."""
    from animegen.imaging import to_tensor
    from animegen.latent.prior import encode_all

    dev = next(model.parameters()).device
    batches = (to_tensor(images[i : i + batch_size]).to(dev) for i in range(0, len(images), batch_size))
    return encode_all(model.encode, batches)


def attribute_axes(codes: Tensor, labels: dict[str, np.ndarray]) -> list[Axis]:
    """Sliders for :data:`ATTRIBUTES` from labelled codes ``[N, D]`` (mean-difference directions)."""
    from animegen.latent.directions import find_directions
    from animegen.latent.probe import label_columns

    wanted = {name.partition("=")[0] for name in ATTRIBUTES}
    cols = [c for c in label_columns({k: v for k, v in labels.items() if k in wanted}) if c.name in wanted]
    if not cols:
        return []
    dirs = find_directions(codes, cols)
    out = []
    for name in ATTRIBUTES:
        if name in dirs.names:
            i = dirs.names.index(name)
            out.append(Axis(name, dirs.vectors[i].float(), float(dirs.info[i]["projection_std"]), "attribute"))
    return out


def build_reference(model, checkpoint: str | os.PathLike | None = None, n: int = REFERENCE_SIZE,
                    n_axes: int = PCA_AXES) -> Reference:
    """The reference set of ``model`` with its editing axes (module doc)."""
    from animegen.latent.perturb import ganspace_axes, pca_axes
    from animegen.latent.stats import code_stats

    source, notes = reference_source(checkpoint, n)
    try:
        images, labels = _images(source, model, n)
    except AnimegenError as exc:  # a training folder that cannot be read any more: synthetic faces instead
        source = f"synth:{n}"
        notes = [f"reference faces: {source} (the training source failed: {exc})"]
        images, labels = _images(source, model, n)
    if getattr(model, "has_encoder", False):
        codes: Tensor | None = encode(model, images)  # [N, D]
        assert codes is not None
        vecs, sds = pca_axes(codes, n_axes)
        axes = attribute_axes(codes, labels) if labels else []
        if not labels:
            notes.append("no attribute labels in the reference set: PCA sliders only")
        scale = float(code_stats(codes)["mean_std"])
    else:
        codes = None
        vecs, sds = ganspace_axes(model, n_axes)
        axes = []
        notes.append("a GAN cannot encode faces: GANSpace sliders (Härkönen et al. 2020), no attribute sliders")
        scale = 1.0
    axes += [Axis(f"pc{i + 1}", vecs[i].float(), float(sds[i]), "pca") for i in range(len(vecs))]
    return Reference(source, images, codes, axes[:MAX_SLIDERS], scale, notes)
