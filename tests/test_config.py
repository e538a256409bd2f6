from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import pytest

from animegen.config import RunConfig, TrainConfig, apply_overrides, coerce, from_dict, load_toml, to_dict
from animegen.errors import ConfigError


@dataclass
class Toy:
    z_dim: int = 8
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    loss: Literal["bce", "hinge"] = "bce"
    spectral: bool = False
    note: str | None = None


@pytest.fixture()
def toy_family(monkeypatch):
    from animegen import models

    class ToyModel(models.GenerativeModel):
        family = "toy"
        config_cls = Toy

    monkeypatch.setitem(models.MODELS, "toy", ToyModel)
    return ToyModel


def test_coerce_types():
    assert coerce("3", int, "k") == 3 and coerce("1e3", int, "k") == 1000
    assert coerce("0.5", float, "k") == 0.5 and coerce(2, float, "k") == 2.0
    assert coerce("yes", bool, "k") is True and coerce("off", bool, "k") is False
    assert coerce("0.0, 0.9", tuple[float, float], "k") == (0.0, 0.9)
    # typing.Optional on purpose: coerce() must accept the typing.Union form as well as X | None (Toy.note)
    assert coerce("none", Optional[int], "k") is None  # noqa: UP045
    with pytest.raises(ConfigError, match="expected an integer"):
        coerce("abc", int, "train.steps")
    with pytest.raises(ConfigError, match="expected true/false"):
        coerce("maybe", bool, "k")
    with pytest.raises(ConfigError, match="not one of"):
        coerce("wgan", Literal["bce", "hinge"], "model.loss")
    with pytest.raises(ConfigError, match="expected 2 values"):
        coerce("1,2,3", tuple[float, float], "k")
    with pytest.raises(ConfigError):
        coerce(True, int, "k")  # a bool is not an int


def test_from_dict_rejects_unknown_key_and_names_valid_ones():
    with pytest.raises(ConfigError) as exc:
        from_dict(TrainConfig, {"stepz": 3}, "train")
    msg = str(exc.value)
    assert "train.stepz" in msg and "steps" in msg and "batch_size" in msg


def test_overrides_and_round_trip(toy_family, tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('family = "toy"\nname = "exp"\n[model]\nz_dim = 16\n[train]\nsteps = 10\n')
    from animegen.config import resolve_run_config, run_config_from_dict

    cfg = resolve_run_config(config_path=recipe, overrides=["model.lr=0.01", "train.batch_size=8",
                                                            "model.betas=0,0.9", "data.hflip=false"])
    assert cfg.family == "toy" and cfg.name == "exp"
    assert cfg.model == Toy(z_dim=16, lr=0.01, betas=(0.0, 0.9))
    assert cfg.train.steps == 10 and cfg.train.batch_size == 8 and cfg.data.hflip is False
    again = run_config_from_dict(to_dict(cfg))
    assert to_dict(again) == to_dict(cfg)


@pytest.mark.parametrize("item, pattern", [
    ("train.stepz=3", r"unknown setting 'train.stepz'.*steps"),
    ("model.nope=1", r"unknown setting 'model.nope'.*z_dim"),
    ("bogus.key=1", r"unknown setting 'bogus'"),
    ("train.steps=ten", r"train.steps: expected an integer"),
    ("train=3", r"is a section"),
    ("train.steps", r"section.key=value"),
    ("model.loss=l2", r"not one of"),
])
def test_bad_overrides(toy_family, item, pattern):
    cfg = RunConfig(family="toy", model=Toy())
    with pytest.raises(ConfigError, match=pattern):
        apply_overrides(cfg, [item])


def test_unknown_family_and_bad_toml(tmp_path):
    from animegen.config import resolve_run_config

    with pytest.raises(ConfigError, match="unknown model family 'nope'"):
        resolve_run_config(family="nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nsteps=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_toml(tmp_path / "missing.toml")


def test_shipped_recipes_parse():
    """Every recipe under configs/ must resolve against the current dataclasses."""
    from pathlib import Path

    from animegen.config import resolve_run_config
    from animegen.models import MODELS

    recipes = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))
    for path in recipes:
        family = load_toml(path).get("family")
        if family not in MODELS:
            pytest.fail(f"{path.name}: family {family!r} is not registered")
        cfg = resolve_run_config(config_path=path)
        assert cfg.family == family
