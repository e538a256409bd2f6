"""The resumable training state: one safetensors file with a JSON header, no pickle anywhere.

``train_state.safetensors`` holds everything needed to continue a run bit-identically:

=====================================  ====================================================================
tensor key                             what
=====================================  ====================================================================
``model/<state_dict key>``             the raw (non-EMA) weights and buffers
``optim/<name>/<param>/<key>``         optimizer ``name``'s per-parameter state tensors (Adam ``exp_avg``...)
``ema/p.<key>``, ``ema/b.<key>``       EMA weights and buffers of ``model.<ema_module>``
``rng/<rank>/torch``, ``.../cuda/<i>`` torch CPU/CUDA(/MPS) generator states (uint8) of each rank
``rng/<rank>/numpy``                   numpy's MT19937 key (624 words, as int64)
``extra/<name>``                       trainer tensors (the fixed sample latents)
=====================================  ====================================================================

The JSON header (``format = "animegen-checkpoint-train-state"``) holds the scalars: step, epoch, the
data loader position, rollback count, lr scale, best metric, each optimizer's ``param_groups`` and
non-tensor per-parameter entries, the GradScaler state, numpy/python RNG scalars, and whatever the
trainer adds. The same :class:`TrainState` object is the in-memory rollback snapshot.
"""
from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from animegen import __version__
from animegen.checkpoint import FORMAT, FORMAT_VERSION, check_finite, read_header, read_tensors, save_tensors
from animegen.errors import CheckpointError

STATE_FORMAT = FORMAT + "-train-state"


@dataclass
class TrainState:
    tensors: dict[str, Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> int:
        return int(self.meta.get("step", 0))

    def section(self, prefix: str) -> dict[str, Tensor]:
        """Tensors under ``prefix/`` with the prefix removed."""
        p = prefix + "/"
        return {k[len(p):]: v for k, v in self.tensors.items() if k.startswith(p)}


def _copy(t: Tensor) -> Tensor:
    return t.detach().to("cpu", copy=True)


def _jsonable(obj: Any) -> Any:
    """Round-trip through JSON (deep copy + early failure on values JSON cannot hold)."""
    def default(o: Any) -> Any:
        if isinstance(o, Tensor) and o.numel() == 1:
            return o.item()
        if isinstance(o, (np.integer, np.floating)):
            return o.item()
        raise TypeError(f"cannot store {type(o).__name__} in a training state header")

    return json.loads(json.dumps(obj, default=default))


# ---------------------------------------------------------------------------- optimizers


def optimizer_to_flat(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict]:
    """An optimizer's state as (tensors keyed ``<param>/<key>``, JSON meta)."""
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    state_meta: dict[str, dict] = {}
    for idx, entries in sd["state"].items():
        scalars, keys = {}, []
        for k, v in entries.items():
            if isinstance(v, Tensor):
                tensors[f"{idx}/{k}"] = _copy(v)
                keys.append(k)
            else:
                scalars[k] = v
        state_meta[str(idx)] = {"tensors": keys, "scalars": scalars}
    meta = {"type": type(opt).__name__, "param_groups": sd["param_groups"], "state": state_meta}
    return tensors, _jsonable(meta)


def optimizer_from_flat(opt: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict, where: str = "") -> None:
    if meta.get("type") not in (None, type(opt).__name__):
        raise CheckpointError(f"{where}optimizer is {type(opt).__name__} now but {meta['type']} in the saved state")
    current = opt.state_dict()["param_groups"]
    groups = [dict(g) for g in meta["param_groups"]]
    if len(groups) != len(current):
        raise CheckpointError(f"{where}the saved optimizer has {len(groups)} parameter groups, "
                              f"the model {len(current)}")
    for saved, cur in zip(groups, current, strict=True):
        for k, v in saved.items():  # JSON turned tuples (Adam betas) into lists
            if isinstance(cur.get(k), tuple) and isinstance(v, list):
                saved[k] = tuple(v)
    state: dict[int, dict[str, Any]] = {}
    for idx, entry in meta["state"].items():
        st: dict[str, Any] = dict(entry.get("scalars", {}))
        for k in entry.get("tensors", []):
            try:
                st[k] = tensors[f"{idx}/{k}"]
            except KeyError:
                raise CheckpointError(f"{where}optimizer tensor {idx}/{k} is missing from the saved state") from None
        state[int(idx)] = st
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{where}saved optimizer state does not fit the model ({exc})") from None


# ---------------------------------------------------------------------------- RNG


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available() and hasattr(torch, "mps"))


def capture_rng() -> tuple[dict[str, Tensor], dict]:
    """The global RNG states of this process (torch CPU + CUDA, numpy, python) as tensors + JSON."""
    tensors = {"torch": torch.get_rng_state().clone()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda/{i}"] = s.clone()
    if _mps_available():
        tensors["mps"] = torch.mps.get_rng_state().clone()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64).copy())
    version, internal, gauss_next = random.getstate()
    meta = {"numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
            "python": {"version": version, "state": list(internal), "gauss_next": gauss_next}}
    return tensors, meta


def restore_rng(tensors: dict[str, Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["torch"].to(torch.uint8))
    cuda = sorted((int(k.split("/")[1]), v) for k, v in tensors.items() if k.startswith("cuda/"))
    if cuda and torch.cuda.is_available():
        states = [v.to(torch.uint8) for _, v in cuda]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    if "mps" in tensors and _mps_available():
        torch.mps.set_rng_state(tensors["mps"].to(torch.uint8))
    n = meta["numpy"]
    np.random.set_state((n["kind"], tensors["numpy"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = meta["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


# ---------------------------------------------------------------------------- file I/O


def save_state(path: str | os.PathLike, state: TrainState) -> Path:
    """Atomically write ``state`` (a crash leaves the previous file intact)."""
    header = {"format": STATE_FORMAT, "format_version": FORMAT_VERSION, "animegen_version": __version__,
              **_jsonable(state.meta)}
    save_tensors(path, state.tensors, header)
    return Path(path)


def load_state(path: str | os.PathLike) -> TrainState:
    header = read_header(path)
    if header.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: this is an exported model, not a resumable training state")
    tensors = read_tensors(path)
    check_finite(path, tensors)  # the trainer never saves non-finite values: such a file was edited or damaged
    meta = {k: v for k, v in header.items() if k not in ("format", "format_version", "animegen_version")}
    return TrainState(tensors, meta)
