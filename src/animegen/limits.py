"""Sane bounds for every setting that sizes an allocation or a loop, checked before anything is built.

A config reaches animegen from a recipe, ``--set``, a run folder's ``config.json`` under ``--resume`` or a
checkpoint's metadata; all of them may be edited by hand. :func:`check_run_config` and
:func:`check_model_config` reject, with one line naming the setting:

* any number that is not finite (``nan``, ``inf``), and a negative one in ``[data]``, ``[train]`` or a
  model setting of the families' shared vocabulary (:data:`MODEL_NONNEGATIVE`);
* a setting outside its bounds below (``latent_dim``, widths, ``channels``, ``size``, ``batch_size`` …);
* zero where zero means nothing sensible (a learning rate of an AE/VAE, ``obs_std``, ``batch_size``).

The bounds are generous (well beyond any model that trains on one machine) but finite, so an edited
``latent_dim = 10**9`` is refused before a matrix of that size is allocated.
"""
from __future__ import annotations

import math
from dataclasses import fields, is_dataclass
from typing import Any

from animegen.errors import ConfigError

CHANNELS = (1, 3)
MIN_SIZE, MAX_SIZE = 8, 1024
INT_BOUNDS: dict[str, tuple[int, int]] = {
    # model
    "latent_dim": (0, 8192),  # 0: the DCGAN preset's value; the AE/VAE refuse 0 themselves
    "widths": (1, 4096),
    "hidden": (1, 65536),
    "g_width": (0, 4096),
    "d_width": (0, 4096),
    "n_critic": (1, 100),
    "d_mbstd_group": (0, 4096),
    "kl_warmup_steps": (0, 10**9),
    # data
    "size": (MIN_SIZE, MAX_SIZE),
    "channels": (1, 3),
    # train
    "steps": (0, 10**9),
    "batch_size": (1, 65536),
    "threads": (0, 4096),
    "n_sample_grid": (0, 4096),
    "eval_kid_n": (2, 100_000),
    "max_rollbacks": (0, 10**6),
}
MAX_WIDTHS = 8
MODEL_NONNEGATIVE = set(INT_BOUNDS) | {"lr", "lr_g", "lr_d", "betas", "weight_decay", "obs_std", "beta",
                                      "clip_value", "gp_weight", "r1_gamma"}
POSITIVE = {"lr", "obs_std", "batch_size", "size", "rollback_lr_factor"}
"""Settings that must be > 0 (a 0 learning rate trains nothing; DCGAN/WGAN lr 0 means their preset)."""
UNIT_INTERVAL = {"val_fraction", "ema_decay", "betas"}
"""Settings in [0, 1)."""


def _fail(where: str, name: str, value: Any, why: str) -> None:
    raise ConfigError(f"{where}{name}={value!r}: {why}")


def _check_number(where: str, name: str, value: Any, key: str, section: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        _fail(where, name, value, "must be a finite number")
    if key in POSITIVE and value <= 0:  # before the sign check: "≥ 0" would be wrong advice for these
        _fail(where, name, value, "must be > 0")
    if value < 0 and (section != "model" or key in MODEL_NONNEGATIVE):
        _fail(where, name, value, "must be ≥ 0")
    if key in UNIT_INTERVAL and not value < 1:
        _fail(where, name, value, "must be in [0, 1)")
    if key in INT_BOUNDS and isinstance(value, int):
        lo, hi = INT_BOUNDS[key]
        if not lo <= value <= hi:
            _fail(where, name, value, f"must be between {lo} and {hi}")


def check_section(obj: Any, section: str, where: str = "") -> None:
    """Check every numeric field (and numeric tuple entry) of the dataclass ``obj`` against the rules above."""
    if not (is_dataclass(obj) and not isinstance(obj, type)):
        return
    for f in fields(obj):
        value = getattr(obj, f.name)
        name = f"{section}.{f.name}" if section else f.name
        if isinstance(value, (tuple, list)):
            if f.name == "widths" and not 1 <= len(value) <= MAX_WIDTHS:
                _fail(where, name, list(value), f"needs 1 to {MAX_WIDTHS} widths")
            for v in value:
                _check_number(where, name, v, f.name, section)
        else:
            _check_number(where, name, value, f.name, section)


def check_spec(channels: Any, size: Any, where: str = "", prefix: str = "data.") -> None:
    """Image channels ∈ {1, 3} and a size the conv stacks can halve to a small grid."""
    from animegen.models.blocks import plan_stages

    if isinstance(channels, bool) or channels not in CHANNELS:
        _fail(where, f"{prefix}channels", channels, "must be 1 (grayscale) or 3 (RGB)")
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        _fail(where, f"{prefix}size", size, f"must be an integer between {MIN_SIZE} and {MAX_SIZE}")
    try:
        plan_stages(size)
    except ValueError as exc:
        _fail(where, f"{prefix}size", size, str(exc))


def check_model_config(config: Any, channels: Any, size: Any, where: str = "") -> None:
    """A model section plus the image shape it is built for (checkpoint metadata, a resumed config)."""
    check_spec(channels, size, where)
    check_section(config, "model", where)


def check_run_config(cfg: Any, where: str = "") -> None:
    """Every section of a RunConfig: data (incl. the image shape), model and train."""
    check_spec(cfg.data.channels, cfg.data.size, where)
    check_section(cfg.data, "data", where)
    check_section(cfg.model, "model", where)
    check_section(cfg.train, "train", where)
