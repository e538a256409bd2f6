"""One checkpoint format for every model: safetensors weights + a JSON header in the metadata.

``<name>.safetensors`` (exported model)::

    tensors : the model's state_dict (EMA weights substituted for the EMA'd module)
    metadata: {"animegen": JSON}, JSON = {
        "format": "animegen-checkpoint", "format_version": 1,
        "family": "vae", "model_config": {...}, "data": {"channels": 3, "size": 64,
        "range": [-1, 1], "normalisation": "x_uint8 / 127.5 - 1"},
        "animegen_version": "0.1.0", "step": 1200, "epoch": 3, "extra": {...}}

Loading never unpickles or executes anything from the file: the JSON names a family from the
registry, the family's config dataclass is rebuilt strictly, and the weights are loaded strictly.
The metadata is untrusted: before anything is allocated, the config is checked against sane bounds
(:mod:`animegen.limits`) and the model it describes is built on the ``meta`` device (no memory) and its
``state_dict`` shapes compared with the shapes stored in the safetensors header (no data read); a mismatch
names the keys. Weights that are not finite are refused, naming the tensor.

The resumable training state (optimizers, EMA, RNG, data order) is a separate file written by
:mod:`animegen.train.state` in the same safetensors + JSON form.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from animegen import __version__
from animegen.config import from_dict, to_dict
from animegen.errors import CheckpointError, ConfigError
from animegen.fsutil import atomic_path, require_regular
from animegen.limits import check_model_config

FORMAT = "animegen-checkpoint"
FORMAT_VERSION = 1
META_KEY = "animegen"
NORMALISATION = {"range": [-1.0, 1.0], "normalisation": "x_uint8 / 127.5 - 1"}


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared or non-contiguous storage: give each tensor its own memory
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], header: dict) -> None:
    """Atomically write tensors + a JSON header (under metadata key ``animegen``)."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file(_contiguous(tensors), str(tmp), metadata={META_KEY: json.dumps(header)})


def read_header(path: str | os.PathLike) -> dict:
    """The JSON header of an animegen safetensors file; CheckpointError for anything else."""
    from safetensors import safe_open

    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such file")
    if p.is_dir():
        raise CheckpointError(f"{p}: is a folder; pass a .safetensors checkpoint file (e.g. {p}/final.safetensors)")
    try:  # a FIFO or device would block or never end: regular files only
        require_regular(p)
    except OSError as exc:
        raise CheckpointError(f"{p}: not an animegen checkpoint ({exc})") from None
    if p.stat().st_size < 16:
        raise CheckpointError(f"{p}: not an animegen checkpoint (file is {p.stat().st_size} bytes; truncated or empty)")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises several error types for bad headers
        raise CheckpointError(f"{p}: not an animegen checkpoint "
                              f"(unreadable safetensors header: {_short(exc)})") from None
    if META_KEY not in meta:
        raise CheckpointError(f"{p}: a safetensors file, but not an animegen checkpoint (no '{META_KEY}' metadata)")
    try:
        header = json.loads(meta[META_KEY])
    except json.JSONDecodeError:
        raise CheckpointError(f"{p}: corrupt animegen metadata (not JSON)") from None
    if not isinstance(header, dict) or header.get("format") not in (FORMAT, FORMAT + "-train-state"):
        raise CheckpointError(f"{p}: not an animegen checkpoint (unknown format {header.get('format')!r})")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise CheckpointError(
            f"{p}: checkpoint format version {version!r} is not supported by animegen {__version__} "
            f"(supports 1..{FORMAT_VERSION}); upgrade animegen"
        )
    return header


def read_tensors(path: str | os.PathLike, map_location: str = "cpu") -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        require_regular(path)
        return load_file(str(path), device=map_location)
    except Exception as exc:
        raise CheckpointError(f"{path}: checkpoint data is corrupt or truncated ({_short(exc)})") from None


def stored_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """Tensor name → shape, from the safetensors header alone (no tensor data is read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(int(d) for d in f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:  # safetensors raises several error types for bad headers
        raise CheckpointError(f"{path}: unreadable safetensors header ({_short(exc)})") from None


def _fmt_keys(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")


def check_shapes(path: str | os.PathLike, cls, config, spec, prefix: str = "", optional: tuple[str, ...] = (),
                 source: str = "the config in its metadata") -> None:
    """Refuse a file whose stored tensor shapes are not those of ``cls(config, spec)``, before building it.

    The model is built on the ``meta`` device (shapes only, no memory); ``prefix`` selects the model's tensors
    in a file that holds more (``"model/"`` in a training state). ``optional``: keys the file may lack.
    ``source`` names where ``config`` came from, for the message.
    """
    import torch

    shapes = {k[len(prefix):]: v for k, v in stored_shapes(path).items() if k.startswith(prefix)}
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in cls(config, spec).state_dict().items()}
    except (ConfigError, ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: the stored config does not build a {cls.family} model "
                              f"({_short(exc)})") from None
    wrong = [f"{prefix}{k} {list(shapes[k])} in the file, {list(v)} from the config"
             for k, v in expected.items() if k in shapes and shapes[k] != v]
    missing = [prefix + k for k in expected if k not in shapes and k not in optional]
    unexpected = [prefix + k for k in shapes if k not in expected]
    if wrong or missing or unexpected:
        parts = ([f"shape of {_fmt_keys(wrong, 3)}"] if wrong else []) + \
                ([f"missing {_fmt_keys(missing)}"] if missing else []) + \
                ([f"unexpected {_fmt_keys(unexpected)}"] if unexpected else [])
        raise CheckpointError(f"{path}: the stored weights do not match {source} "
                              f"({'; '.join(parts)}); the file was edited or is damaged")


def check_finite(path: str | os.PathLike, tensors: dict[str, torch.Tensor], prefix: str = "") -> None:
    """Refuse weights with NaN/inf (they would sample blank or garbage images without a word)."""
    for k, v in tensors.items():
        if k.startswith(prefix) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            n = int((~torch.isfinite(v)).sum())
            raise CheckpointError(f"{path}: tensor {k} holds {n} non-finite value(s) (NaN/inf); "
                                  "this checkpoint cannot be used")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def save_model(path: str | os.PathLike, model, step: int = 0, epoch: int = 0,
               state_dict: dict[str, torch.Tensor] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (or ``state_dict`` for it, e.g. with EMA weights) as an exported checkpoint."""
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "family": model.family,
        "model_config": to_dict(model.config),
        "data": {"channels": model.spec.channels, "size": model.spec.size, **NORMALISATION},
        "animegen_version": __version__,
        "torch_version": torch.__version__.split("+")[0],
        "step": int(step),
        "epoch": int(epoch),
        "extra": extra or {},
    }
    save_tensors(path, state_dict if state_dict is not None else model.state_dict(), header)
    return Path(path)


def load_model(path: str | os.PathLike, map_location: str = "cpu"):
    """Rebuild a ready model (eval mode) from the file alone. The header is at ``model.checkpoint_header``."""
    from animegen.models import MODELS, DataSpec

    header = read_header(path)
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: this is a resumable training state, not a model; pass the model checkpoint "
                              "(e.g. final.safetensors) or use `animegen train --resume RUN_DIR`")
    family = header.get("family")
    if family not in MODELS:
        raise CheckpointError(f"{path}: unknown model family {family!r} "
                              f"(this animegen knows: {', '.join(sorted(MODELS))})")
    cls = MODELS[family]
    try:
        stored = header.get("model_config") or {}
        if not isinstance(stored, dict):
            raise TypeError("model_config is not a table")
        stored = dict(stored)
        for key, value in cls.legacy_config.items():  # fields newer than this checkpoint: the old behaviour
            stored.setdefault(key, value)
        config = from_dict(cls.config_cls, stored, "model")
        data = header["data"]
        channels, size = data["channels"], data["size"]
        check_model_config(config, channels, size)
        spec = DataSpec(channels=int(channels), size=int(size))
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: checkpoint config does not fit this animegen's {family} model "
                              f"({exc})") from None
    check_shapes(path, cls, config, spec, optional=cls.optional_state)  # before anything is allocated
    model = cls(config, spec)
    tensors = read_tensors(path, map_location)
    check_finite(path, tensors)
    optional = [k for k in cls.optional_state if k not in tensors]  # state newer than this checkpoint
    try:
        result = model.load_state_dict(tensors, strict=not optional)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match the {family} architecture ({_short(exc)})") from None
    if optional and (result.unexpected_keys or set(result.missing_keys) - set(optional)):
        missing = sorted(set(result.missing_keys) - set(optional))
        raise CheckpointError(f"{path}: weights do not match the {family} architecture (missing {missing[:5]}, "
                              f"unexpected {sorted(result.unexpected_keys)[:5]})")
    model.to(map_location).eval()
    model.checkpoint_header = header  # type: ignore[assignment]
    return model
