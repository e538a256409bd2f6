"""animegen.train.state: optimizer flattening, RNG capture, the safetensors + JSON file (no pickle)."""
from __future__ import annotations

import json
import random
import struct

import numpy as np
import pytest
import torch
from torch import nn

from animegen.checkpoint import load_model, read_header, save_model
from animegen.errors import CheckpointError
from animegen.train.state import (
    STATE_FORMAT,
    TrainState,
    capture_rng,
    load_state,
    optimizer_from_flat,
    optimizer_to_flat,
    restore_rng,
    save_state,
)


def _trained(opt_cls, **kw):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = opt_cls(net.parameters(), **kw)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(5, 4)).pow(2).mean().backward()
        opt.step()
    return net, opt


@pytest.mark.parametrize("opt_cls,kw", [(torch.optim.Adam, {"lr": 1e-2, "betas": (0.5, 0.9)}),
                                        (torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 0.1}),
                                        (torch.optim.RMSprop, {"lr": 1e-3}),
                                        (torch.optim.SGD, {"lr": 1e-2, "momentum": 0.9})])
def test_optimizer_state_roundtrip_gives_identical_next_steps(opt_cls, kw):
    net, opt = _trained(opt_cls, **kw)
    tensors, meta = optimizer_to_flat(opt)
    json.dumps(meta)  # the meta is plain JSON
    net2 = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    net2.load_state_dict(net.state_dict())
    opt2 = opt_cls(net2.parameters(), **kw)
    optimizer_from_flat(opt2, tensors, meta)
    x = torch.randn(5, 4)
    for n, o in ((net, opt), (net2, opt2)):
        o.zero_grad()
        n(x).pow(2).mean().backward()
        o.step()
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), net2.parameters(), strict=True))
    assert opt2.param_groups[0].get("betas", ()) == opt.param_groups[0].get("betas", ())


def test_rng_capture_restore_replays_every_generator():
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    tensors, meta = capture_rng()
    a = (torch.randn(3), np.random.rand(3), random.random())
    restore_rng(tensors, json.loads(json.dumps(meta)))
    b = (torch.randn(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_state_file_is_safetensors_with_a_json_header(tmp_path):
    st = TrainState({"model/w": torch.arange(6.0).reshape(2, 3), "step_t": torch.tensor(3.0)},
                    {"step": 7, "loader": {"epoch": 1, "position": 5}, "best": None})
    path = save_state(tmp_path / "train_state.safetensors", st)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])  # plain safetensors: JSON header, then raw tensor bytes; no pickle
    assert json.loads(header["__metadata__"]["animegen"])["format"] == STATE_FORMAT
    assert read_header(path)["step"] == 7
    back = load_state(path)
    assert back.step == 7 and back.meta["loader"] == {"epoch": 1, "position": 5}
    assert torch.equal(back.tensors["model/w"], st.tensors["model/w"]) and back.tensors["step_t"].shape == ()
    with pytest.raises(CheckpointError, match="training state, not a model"):
        load_model(path)


def test_load_state_refuses_a_model_checkpoint(tmp_path):
    from animegen.models import DataSpec

    class Tiny(nn.Module):
        family, spec, config = "x", DataSpec(3, 8), None

    tiny = Tiny()
    tiny.lin = nn.Linear(2, 2)
    p = tmp_path / "m.safetensors"
    save_model(p, tiny)
    with pytest.raises(CheckpointError, match="not a resumable training state"):
        load_state(p)
