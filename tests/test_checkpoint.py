from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from torch import nn

import animegen
from animegen.checkpoint import FORMAT_VERSION, load_model, read_header, save_model, save_tensors
from animegen.errors import CheckpointError
from animegen.models import MODELS, DataSpec, GenerativeModel


@dataclass
class TinyConfig:
    z_dim: int = 4
    width: int = 8


class Tiny(GenerativeModel):
    family = "tiny"
    config_cls = TinyConfig

    def __init__(self, config, spec):
        super().__init__(config, spec)
        c, s = spec.channels, spec.size
        self.net = nn.Sequential(nn.Linear(config.z_dim, config.width), nn.ReLU(), nn.Linear(config.width, c * s * s))
        self.register_buffer("calls", torch.zeros(()))

    @property
    def latent_dim(self):
        return self.config.z_dim

    def decode(self, z):
        c, s = self.spec.channels, self.spec.size
        return torch.tanh(self.net(z)).view(-1, c, s, s)  # [B, C, H, W]


@pytest.fixture(autouse=True)
def _register(monkeypatch):
    monkeypatch.setitem(MODELS, "tiny", Tiny)


def _model():
    torch.manual_seed(0)
    return Tiny(TinyConfig(z_dim=5, width=7), DataSpec(3, 8))


def test_round_trip_bit_exact(tmp_path):
    m = _model()
    path = save_model(tmp_path / "m.safetensors", m, step=12, epoch=1)
    loaded = animegen.load(path)
    assert isinstance(loaded, Tiny) and loaded.config == m.config and loaded.spec == m.spec
    for (k, a), (k2, b) in zip(m.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)
    z = torch.randn(3, 5)
    assert torch.equal(m.decode(z), loaded.decode(z))
    h = loaded.checkpoint_header
    assert h["format_version"] == FORMAT_VERSION and h["family"] == "tiny" and h["step"] == 12
    assert h["data"] == {"channels": 3, "size": 8, "range": [-1.0, 1.0], "normalisation": "x_uint8 / 127.5 - 1"}
    assert h["animegen_version"] == animegen.__version__
    assert not loaded.training


def test_bad_files_give_one_line_errors(tmp_path):
    good = save_model(tmp_path / "good.safetensors", _model())
    data = good.read_bytes()
    cases = {
        "missing.safetensors": None,
        "empty.safetensors": b"",
        "truncated.safetensors": data[: len(data) // 2],
        "text.safetensors": b"hello, I am not a checkpoint at all\n" * 3,
        "header-only.safetensors": data[:40],
    }
    for name, content in cases.items():
        p = tmp_path / name
        if content is not None:
            p.write_bytes(content)
        with pytest.raises(CheckpointError) as exc:
            load_model(p)
        assert "\n" not in str(exc.value) and str(p) in str(exc.value), name
    with pytest.raises(CheckpointError, match="is a folder"):
        load_model(tmp_path)


def test_foreign_and_future_files(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"), metadata={"x": "y"})
    with pytest.raises(CheckpointError, match="not an animegen checkpoint"):
        load_model(tmp_path / "foreign.safetensors")

    m = _model()
    save_model(tmp_path / "m.safetensors", m)
    header = read_header(tmp_path / "m.safetensors")
    for version in (FORMAT_VERSION + 1, "1", None):
        save_tensors(tmp_path / "future.safetensors", m.state_dict(), {**header, "format_version": version})
        with pytest.raises(CheckpointError, match="format version"):
            load_model(tmp_path / "future.safetensors")
    save_tensors(tmp_path / "fam.safetensors", m.state_dict(), {**header, "family": "nope"})
    with pytest.raises(CheckpointError, match="unknown model family"):
        load_model(tmp_path / "fam.safetensors")
    save_tensors(tmp_path / "cfg.safetensors", m.state_dict(), {**header, "model_config": {"z_dim": 5, "bad": 1}})
    with pytest.raises(CheckpointError, match="does not fit"):
        load_model(tmp_path / "cfg.safetensors")
    save_tensors(tmp_path / "shape.safetensors", m.state_dict(), {**header, "model_config": {"z_dim": 6, "width": 7}})
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(tmp_path / "shape.safetensors")


def test_no_pickle_in_file(tmp_path):
    p = save_model(tmp_path / "m.safetensors", _model())
    raw = p.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    assert set(header["__metadata__"]) == {"animegen"}
    assert b"\x80\x04\x95" not in raw[: 8 + n]  # no pickle protocol-4 frame in the header


def test_atomic_save_keeps_old_file_on_crash(tmp_path, monkeypatch):
    m = _model()
    p = save_model(tmp_path / "m.safetensors", m)
    before = p.read_bytes()
    import safetensors.torch as st

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(st, "save_file", boom)
    with pytest.raises(KeyboardInterrupt):
        save_model(p, m)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left


def test_fields_added_later_load_with_their_legacy_value(tmp_path, monkeypatch):
    """An old checkpoint lacks a new config field: it must rebuild the old architecture, not today's preset."""
    m = _model()
    path = save_model(tmp_path / "old.safetensors", m)
    header = read_header(path)

    @dataclass
    class NewConfig(TinyConfig):
        extra_layer: int = 3  # a newer default that would change the architecture

    class Newer(Tiny):
        config_cls = NewConfig
        legacy_config = {"extra_layer": 0}

    monkeypatch.setitem(MODELS, "tiny", Newer)
    save_tensors(path, m.state_dict(), header)  # the stored config has no 'extra_layer'
    assert load_model(path).config.extra_layer == 0
    save_tensors(path, m.state_dict(), {**header, "model_config": {**header["model_config"], "extra_layer": 5}})
    assert load_model(path).config.extra_layer == 5  # a stored value always wins
