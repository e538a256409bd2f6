"""Typed configs: dataclasses per component, TOML recipes, ``--set section.key=value`` overrides.

A run is described by :class:`RunConfig`::

    family = "vae"            # which model family (a key of animegen.models.MODELS)
    name = "vae-faces"        # run folder prefix
    [data]   ...  -> DataConfig
    [model]  ...  -> the family's own config dataclass (e.g. VAEConfig)
    [train]  ...  -> TrainConfig

Unknown keys are errors that name the key and the valid ones; values are checked against the
field's type. The fully resolved config is written into every run folder as ``config.json``.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, cast

from animegen.errors import ConfigError

if sys.version_info >= (3, 11):  # a version check, not try/except: mypy then checks each branch for its Python
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class DataConfig:
    """Where the training images come from and how they are presented to the model."""

    source: str = "synth:20000"
    """A prepared dataset folder, an image folder/zip/tar, ``synth:N``, ``mnist:DIR`` or ``hf:NAME``."""
    size: int = 64
    """Side length in pixels the model sees (images are resized when they differ)."""
    channels: int = 3
    """3 for RGB, 1 for grayscale (MNIST)."""
    val_fraction: float = 0.05
    """Share of images held out for validation (reconstruction loss, ``best`` checkpoint)."""
    hflip: bool = True
    """Random horizontal flips as augmentation (faces are roughly symmetric)."""
    seed: int = 0
    """Seed for the train/validation split."""


@dataclass
class TrainConfig:
    """Model-agnostic training loop settings (optimizer settings live in the model's config)."""

    steps: int = 5000
    epochs: float = 0.0
    """Training length in epochs instead of steps; 0: use ``steps``. An epoch is len(train split) / batch_size
    batches, so when > 0 the run stops at step ceil(epochs · len(train split) / (batch_size · batches per step))
    (WGAN: a step takes n_critic batches), which replaces ``steps`` (recorded in the run's config.json).
    ``train --resume RUN --set train.steps=N`` (without ``train.epochs``) switches a run back to a step target."""
    batch_size: int = 64
    max_minutes: float = 0.0
    """Wall-clock budget of one invocation; 0 means no limit. Training stops cleanly (final checkpoint) when
    reached. ``train --resume`` without a new budget finishes the budget a stopped run had left."""
    max_cpu_minutes: float = 0.0
    """Process CPU-time budget (all threads, ``time.process_time``); 0 means no limit. Unlike wall time it is
    fair between runs that share a busy machine: two 1-thread runs side by side each get the same compute."""
    seed: int = 0
    device: str = "auto"
    """``auto`` picks CUDA, then MPS, then CPU."""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """``auto``: bf16 autocast where the hardware supports it (CPU with AVX-512 BF16, CUDA Ampere+)."""
    channels_last: bool = True
    threads: int = 0
    """CPU threads for torch; 0 keeps torch's default (all cores)."""
    ema_decay: float = 0.999
    """EMA of the generator/decoder weights used for sampling; 0 disables."""
    ema_start: int = 0
    """Step from which EMA averaging starts (weights are copied before that)."""
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000
    state_every_minutes: float = 10.0
    """Also write the resumable state (``train_state.safetensors`` alone, no model export) whenever this many
    wall-clock minutes have passed since it was last written, so a run killed without warning (SIGKILL, power
    loss) loses at most that much work even when ``checkpoint_every`` steps take hours; 0 disables."""
    eval_every: int = 1000
    """Every N steps (0 disables): validation loss of the EMA weights (AE/VAE; picks ``best.safetensors``) and
    the pixel diversity of fixed-noise samples against real images (all families; warns of GAN mode collapse);
    with ``eval_kid`` also a quick KID/FID (see there)."""
    eval_kid: bool = False
    """Opt-in: at every ``eval_every`` a quick KID and FID of ``eval_kid_n`` EMA samples against as many faces of
    the *validation half* of the held-out split (animegen.data.splits), logged as ``quality/kid``,
    ``quality/fid`` in metrics.jsonl with its CPU share (``quality/cpu_fraction``). The Inception network only
    scores samples: it is never part of a loss or of D. Needs the FID Inception weights."""
    eval_kid_n: int = 256
    """Generated samples (and validation faces) per quick KID/FID. The cost is about ``n × 0.06`` CPU-s in bf16
    (twice that in fp32) per evaluation, plus once as much for the cached reference features."""
    eval_kid_precision: Literal["auto", "fp32", "bf16"] = "auto"
    """Inception precision for the quick KID/FID: ``auto`` is bf16 on a CPU with native bf16 (a relative measure
    for choosing checkpoints; report numbers with ``animegen evaluate``, fp32), else fp32."""
    eval_kid_max_fraction: float = 0.05
    """Skip a quick KID/FID when it would bring the evaluations' share of the run's CPU time above this
    (0: never skip). Skips are logged (``quality/skipped``)."""
    best_by: Literal["auto", "kid", "fid", "loss", "none"] = "auto"
    """What picks ``best.safetensors`` (lowest wins): ``kid``/``fid`` the quick KID/FID (needs ``eval_kid``),
    ``loss`` the family's validation loss (AE/VAE), ``auto`` KID for GANs with ``eval_kid`` and the validation
    loss otherwise. The criterion is written into the run's metrics.jsonl (``best`` events) and checkpoints."""
    keep_checkpoints: int = 2
    export_priors: Literal["end", "always"] = "end"
    """When exports fit the costly latent priors (the VAE/VAE-GAN Gaussian mixture and second-stage VAE, minutes
    of CPU at ``prior_fit_codes``): ``end`` in ``final.safetensors``, on Ctrl-C and, at the end of training, in
    ``best.safetensors`` (periodic ``step-N``/``last`` exports carry the fitted Gaussian only); ``always`` at
    every export."""
    prior_fit_codes: int = 24576
    """How many training codes the full exports (``final``, ``best``, Ctrl-C; every export with
    ``export_priors = "always"``) fit the latent priors to: the training images and, with ``data.hflip`` (the
    model trained on mirrored faces too), their mirror images, up to this many codes in all, spread evenly over
    the training split (0: all of them). More codes give the mixture sharper components; its EM costs CPU time
    in proportion. Periodic exports fit the Gaussian alone, to 4,096 training images."""
    grad_clip: float = 0.0
    """Clip gradient norm to this value; 0 disables (norms are still measured and logged)."""
    max_grad_norm: float = 0.0
    """A gradient norm above this counts as divergence (rollback); 0: only non-finite losses/gradients do.
    The right value depends on the loss scale (a per-image summed VAE loss has norms ~1e6 at init)."""
    max_rollbacks: int = 3
    rollback_lr_factor: float = 0.5
    lr_decay: float = 0.0
    """Share of the run, at its end, over which every learning rate falls linearly to ``lr_decay_to`` times its
    value (0: constant). The run's end is whichever limit comes first: ``steps``/``epochs``, or this
    invocation's ``max_minutes``/``max_cpu_minutes`` (a run resumed with a new budget gets a fresh decay; one
    resumed without it finishes the budget and the decay it was stopped in)."""
    lr_decay_to: float = 0.0
    """The learning rates' share at the very end of an ``lr_decay`` schedule, in [0, 1]."""
    n_sample_grid: int = 64


@dataclass
class RunConfig:
    family: str = "vae"
    name: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: Any = None
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if not self.name:
            self.name = self.family


# --------------------------------------------------------------------------- generic machinery


def to_dict(obj: Any) -> Any:
    """A JSON-ready dict of a (nested) dataclass."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check/convert ``value`` (from TOML, JSON or a ``--set`` string) to the annotated type ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if isinstance(value, str) and value not in args:
            # allow e.g. "1" for Literal[1]
            for a in args:
                if str(a) == value:
                    return a
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.strip("()[] ").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
        inner = args[0] if args else Any
        out = [coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if is_dataclass(tp):
        cls = cast(type, tp)  # an annotation, so a class (is_dataclass() also accepts instances and narrows to both)
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table of settings, got {value!r}")
        return from_dict(cls, value, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                try:
                    f = float(value)
                except ValueError:
                    f = None
                if f is not None and f.is_integer():
                    return int(f)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{where}: cannot use {value!r} as {_type_name(tp)}")


def from_dict(cls: type, data: dict, where: str = "") -> Any:
    """Build dataclass ``cls`` from a dict, strictly: unknown keys and wrong types are errors."""
    hints = _hints(cls)
    names = [f.name for f in fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown setting '{prefix}{unknown[0]}'; valid keys{' in [' + where + ']' if where else ''}: "
            + ", ".join(names)
        )
    kwargs = {}
    for k, v in data.items():
        kwargs[k] = coerce(v, hints[k], f"{where}.{k}" if where else k)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def model_config_class(family: str) -> type:
    from animegen.models import MODELS

    if family not in MODELS:
        raise ConfigError(f"unknown model family '{family}'; choose one of: {', '.join(sorted(MODELS))}")
    return MODELS[family].config_cls


def _foreign_model_key(family: str, key: str) -> None:
    """A ConfigError naming the families that do have ``model.<key>`` (e.g. a GAN-only option given to a VAE)."""
    from animegen.models import MODELS

    owners = sorted(f for f, cls in MODELS.items() if f != family and key in {x.name for x in fields(cls.config_cls)})
    if owners:
        raise ConfigError(f"'model.{key}' is a setting of {', '.join(owners)}, not of {family}; "
                          f"valid keys in model: {', '.join(x.name for x in fields(model_config_class(family)))}")


def run_config_from_dict(data: dict) -> RunConfig:
    data = dict(data)
    family = data.get("family", RunConfig.family)
    if not isinstance(family, str):
        raise ConfigError(f"family: expected a string, got {family!r}")
    mcls = model_config_class(family)
    for key in data.get("model") or {}:
        if key not in {x.name for x in fields(mcls)}:
            _foreign_model_key(family, key)
    model = from_dict(mcls, data.pop("model", None) or {}, "model")
    rc = from_dict(RunConfig, {k: v for k, v in data.items()}, "")
    rc.model = model
    return rc


def _split_override(item: str) -> tuple[list[str], str]:
    if "=" not in item:
        raise ConfigError(f"--set expects section.key=value, got '{item}'")
    key, value = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set expects section.key=value, got '{item}'")
    return key.split("."), value.strip()


def override_keys(overrides: list[str]) -> set[str]:
    """The dotted keys that ``section.key=value`` strings set, parsed as :func:`apply_overrides` parses them."""
    return {".".join(_split_override(item)[0]) for item in overrides}


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply ``section.key=value`` strings in order, each checked against the field's type."""
    for item in overrides:
        path, value = _split_override(item)
        if path == ["family"]:
            if value != cfg.family:
                # changing the family resets the model config to that family's defaults
                cfg.family = value
                cfg.model = model_config_class(value)()
            continue
        obj: Any = cfg
        for i, part in enumerate(path):
            where = ".".join(path[: i + 1])
            if not (is_dataclass(obj) and not isinstance(obj, type)):
                raise ConfigError(f"'{'.'.join(path[:i])}' is a value, not a section; cannot set '{where}'")
            names = [f.name for f in fields(obj)]
            if part not in names:
                if i == 1 and path[0] == "model":
                    _foreign_model_key(cfg.family, part)
                section = ".".join(path[:i]) or "the top level"
                raise ConfigError(f"unknown setting '{where}'; valid keys in {section}: {', '.join(names)}")
            if i == len(path) - 1:
                tp = _hints(type(obj))[part]
                if is_dataclass(tp):
                    raise ConfigError(f"'{where}' is a section; set one of its keys, e.g. {where}.<key>=...")
                setattr(obj, part, coerce(value, tp, where))
            else:
                obj = getattr(obj, part)
    return cfg


def load_toml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        from animegen.fsutil import read_text_limited

        return tomllib.loads(read_text_limited(p, 16 * 2**20))
    except OSError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from exc


def resolve_run_config(
    family: str | None = None,
    config_path: str | Path | None = None,
    overrides: list[str] | None = None,
    data_source: str | None = None,
) -> RunConfig:
    """Defaults ← recipe file ← ``--model`` / ``--data`` ← ``--set`` overrides, in that order."""
    data: dict = load_toml(config_path) if config_path else {}
    if family:
        if data.get("family") not in (None, family):
            data.pop("model", None)  # recipe's model settings belong to another family
        data["family"] = family
    cfg = run_config_from_dict(data)
    if data_source:
        cfg.data.source = data_source
    apply_overrides(cfg, overrides or [])
    return cfg


def dumps(cfg: Any) -> str:
    return json.dumps(to_dict(cfg), indent=2)


def replace(obj: Any, **changes: Any) -> Any:
    return dataclasses.replace(obj, **changes)
