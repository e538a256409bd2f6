"""Where latent codes come from: images (encoded), seeds, dataset rows and saved code files.

Every latent command takes its inputs as *code specs*:

=====================  ==========================================================================
``PATH``               an image file; converted to the model's channels and size (with a note), then
                       encoded (AE/VAE) or inverted (GANs, only when ``invert=True``)
``seed:N``             z drawn from the model's prior with seed N (``prior="auto"``: the fitted
                       Gaussian for the AE, N(0, I) otherwise)
``data:SRC#I``         row I of any data source (``data:synth:100#3``, ``data:mnist:DIR#7``,
                       ``data:my_dataset#12``); encoded or inverted like an image
``synth:…#I``,         the same without ``data:`` for the built-in schemes
``mnist:…#I``
``codes:FILE#I``       row I of a codes file (``animegen invert`` writes one); ``codes:FILE`` = row 0
=====================  ==========================================================================

Usage::

    model = animegen.load("runs/vae-1/final.safetensors")
    codes = resolve_codes(model, ["face.png", "seed:3"])    # Codes(z [2, latent_dim], labels, notes)
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from animegen.errors import AnimegenError, CheckpointError

CODES_FORMAT = "animegen-codes"
MAX_CODES_DIM = 65_536
"""Largest latent size a codes file may declare (checked before anything is allocated)."""

Inverter = Callable[[Any, Tensor], Tensor]
"""``(model, images [K, C, H, W]) -> codes [K, latent_dim]``: how a command turns images into GAN codes."""


class NeedsInversion(AnimegenError):
    """An image was given to a model that cannot encode it (a GAN) without ``--invert``."""


@dataclass
class Codes:
    """Latent codes with where each came from."""

    z: Tensor  # [K, latent_dim] float32, CPU
    labels: list[str]  # one short name per row, for captions and JSON
    notes: list[str] = field(default_factory=list)  # conversions the user should hear about
    images: Tensor | None = None  # [K, C, H, W] inputs in [-1, 1] where a row came from an image, else NaN rows

    def __len__(self) -> int:
        return int(self.z.shape[0])


def can_encode(model) -> bool:
    return bool(getattr(model, "has_encoder", False))


def model_input(images: np.ndarray, model) -> tuple[Tensor, list[str]]:
    """uint8 ``[K, H, W, C]`` of any size and 1/3 channels → the model's input ``[K, C, S, S]`` in [-1, 1],
    with a note for each conversion made."""
    from animegen.data.imageset import ImageSet, convert
    from animegen.imaging import to_tensor

    notes = []
    c, s = model.spec.channels, model.spec.size
    if images.shape[3] != c:
        notes.append(f"converted {images.shape[3]}-channel input to the model's {c} channel(s)")
    if images.shape[1:3] != (s, s):
        notes.append(f"resized {images.shape[2]}x{images.shape[1]} input to the model's {s}x{s}")
    converted = convert(ImageSet(images, "input", "input"), s, c).images
    return to_tensor(converted), notes


def read_image(path: str | os.PathLike) -> np.ndarray:
    """One image file → uint8 ``[1, S, S, 3]`` (centre-cropped to a square), or a one-line AnimegenError."""
    from animegen.data.crop import center_square, crop_square
    from animegen.data.decode import DEFAULT_MAX_PIXELS, Rejected, open_image, pixel_limit, read_bytes, to_rgb

    p = Path(path)
    if not p.exists():
        raise AnimegenError(f"{p}: no such image file")
    try:
        with pixel_limit(DEFAULT_MAX_PIXELS):
            im, _, _ = open_image(read_bytes(p))
            im = to_rgb(im)
    except Rejected as exc:
        raise AnimegenError(f"{p}: cannot use this image ({exc})") from None
    if im.width != im.height:
        im = crop_square(im, center_square(im.width, im.height))
    return np.asarray(im, dtype=np.uint8)[None]


def _split_index(spec: str, rest: str) -> tuple[str, int]:
    src, sep, idx = rest.rpartition("#")
    if not sep or not src:
        raise AnimegenError(f"{spec!r}: name a row with #INDEX (e.g. data:synth:100#3)")
    try:
        i = int(idx)
    except ValueError:
        raise AnimegenError(f"{spec!r}: the row after '#' must be an integer, got {idx!r}") from None
    if i < 0:
        raise AnimegenError(f"{spec!r}: the row index must be >= 0")
    return src, i


def dataset_row(spec: str, rest: str) -> np.ndarray:
    """Row ``#I`` of a data source spec → uint8 ``[1, H, W, C]``."""
    from animegen.data.sources import open_source

    src, i = _split_index(spec, rest)
    ds = open_source(src, quiet=True)
    if i >= len(ds):
        raise AnimegenError(f"{spec!r}: row {i} is out of range; {src} has {len(ds)} images (0..{len(ds) - 1})")
    return np.asarray(ds.images[i : i + 1])


def save_codes(path: str | os.PathLike, z: Tensor, labels: Sequence[str], extra: dict[str, Any] | None = None) -> Path:
    """Atomically write codes ``[K, latent_dim]`` and their labels as a safetensors file."""
    from animegen.checkpoint import save_tensors

    if z.ndim != 2 or len(labels) != z.shape[0]:
        raise ValueError(f"save_codes needs z [K, D] and K labels, got {list(z.shape)} and {len(labels)}")
    header = {"format": CODES_FORMAT, "format_version": 1, "latent_dim": int(z.shape[1]),
              "labels": [str(s) for s in labels], "extra": extra or {}}
    save_tensors(path, {"codes": z.detach().float().cpu()}, header)
    return Path(path)


def load_codes(path: str | os.PathLike) -> tuple[Tensor, list[str], dict[str, Any]]:
    """Read a codes file: ``(z [K, D], labels, header)``; CheckpointError for anything else."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such codes file")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            header = json.loads(meta.get("animegen", "null"))
            if not isinstance(header, dict) or header.get("format") != CODES_FORMAT:
                raise CheckpointError(f"{p}: not an animegen codes file (write one with `animegen invert`)")
            if "codes" not in f.keys():
                raise CheckpointError(f"{p}: codes file without a 'codes' tensor")
            shape = f.get_slice("codes").get_shape()
            if len(shape) != 2 or not (0 < shape[1] <= MAX_CODES_DIM) or shape[1] != header.get("latent_dim"):
                raise CheckpointError(f"{p}: codes tensor {shape} does not match its header")
            z = f.get_tensor("codes").float()
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors and json raise several types for damaged files
        detail = str(exc).splitlines()[0][:200] if str(exc) else exc
        raise CheckpointError(f"{p}: unreadable codes file ({detail})") from None
    labels = header.get("labels")
    if not isinstance(labels, list) or len(labels) != z.shape[0]:
        labels = [f"{p.stem}#{i}" for i in range(z.shape[0])]
    return z, [str(s) for s in labels], header


def _codes_row(model, spec: str, rest: str) -> tuple[Tensor, str]:
    src, i = _split_index(spec, rest) if "#" in rest else (rest, 0)
    z, labels, _ = load_codes(src)
    if z.shape[1] != model.latent_dim:
        raise AnimegenError(f"{spec!r}: codes have {z.shape[1]} dimensions, the model's latent has {model.latent_dim}")
    if i >= z.shape[0]:
        raise AnimegenError(f"{spec!r}: row {i} is out of range; the file holds {z.shape[0]} codes")
    return z[i], labels[i]


def _seed_code(model, spec: str, rest: str) -> Tensor:
    try:
        seed = int(rest)
    except ValueError:
        raise AnimegenError(f"{spec!r}: expected seed:N with an integer N") from None
    return model.sample_latent(1, generator=torch.Generator().manual_seed(seed), prior="auto")[0].float().cpu()


def image_input(spec: str) -> np.ndarray:
    """An image spec (an image file, ``data:SRC#I``, ``synth:…#I``, ``mnist:…#I``) → uint8 ``[1, H, W, C]``."""
    spec = str(spec).strip()
    scheme, _, rest = spec.partition(":")
    if scheme == "data":
        return dataset_row(spec, rest)
    if scheme in ("synth", "mnist", "hf") and "#" in rest:
        return dataset_row(spec, spec)
    if Path(spec).exists():
        return read_image(spec)
    if scheme in ("seed", "codes"):
        raise AnimegenError(f"{spec}: this command takes images (files or data:SOURCE#I rows), not codes")
    raise AnimegenError(f"{spec}: no such image file (inputs are image files, seed:N, data:SOURCE#I or codes:FILE#I)")


def input_label(spec: str) -> str:
    """A short caption for an input spec: the file name of an image file, else the spec itself."""
    scheme = spec.partition(":")[0]
    return spec if scheme in ("data", "synth", "mnist", "hf", "seed", "codes") else Path(spec).name


@torch.no_grad()
def resolve_codes(model, specs: Sequence[str], invert: bool | Inverter = False) -> Codes:
    """Turn code specs (module doc) into codes ``[K, latent_dim]`` for ``model``.

    Images are encoded by AE/VAE models. For a model without an encoder an image needs ``invert``: ``True``
    runs :func:`animegen.latent.invert.invert` with its defaults, a callable is used as given; otherwise
    :class:`NeedsInversion` says what to do.
    """
    if not specs:
        raise AnimegenError("no inputs given")
    z_rows: list[Tensor | None] = []
    labels: list[str] = []
    notes: list[str] = []
    pending: list[tuple[int, np.ndarray]] = []  # rows that come from images
    for spec in specs:
        spec = str(spec).strip()
        scheme, _, rest = spec.partition(":")
        if scheme == "seed":
            z_rows.append(_seed_code(model, spec, rest))
            labels.append(spec)
            continue
        if scheme == "codes":
            z, label = _codes_row(model, spec, rest)
            z_rows.append(z)
            labels.append(label)
            continue
        arr = image_input(spec)
        pending.append((len(z_rows), arr))
        z_rows.append(None)
        labels.append(input_label(spec))
    images = None
    if pending:
        parts = [model_input(a, model) for _, a in pending]
        x = torch.cat([t for t, _ in parts])  # [P, C, H, W]
        notes += sorted({n for _, ns in parts for n in ns})
        if can_encode(model):
            z_img = model.encode(x.to(_device(model))).float().cpu()  # [P, latent_dim]
        elif invert:
            if callable(invert):
                z_img = invert(model, x).float().cpu()
            else:
                from animegen.latent.invert import invert as run_inversion

                z_img = run_inversion(model, x).z.float().cpu()
            notes.append(f"{len(pending)} image(s) inverted into the {model.family} generator's latent space")
        else:
            raise NeedsInversion(
                f"this {model.family} model has no encoder, so an image cannot be encoded directly: add --invert "
                "(optimises a code per image), or run `animegen invert CKPT IMG --out DIR` once and pass "
                "codes:DIR/codes.safetensors#I")
        images = torch.full((len(specs), *model.spec.shape), float("nan"))
        for j, (row, _) in enumerate(pending):
            z_rows[row] = z_img[j]
            images[row] = x[j]
    z = torch.stack([r for r in z_rows if r is not None])  # [K, latent_dim]
    if not torch.isfinite(z).all():
        raise AnimegenError("some input codes are NaN/inf (a damaged checkpoint or codes file?)")
    return Codes(z, labels, notes, images)


def _device(model) -> torch.device:
    return next(model.parameters()).device
