"""Untrusted checkpoint metadata is checked before anything is allocated; non-finite weights are refused.

A checkpoint's JSON header can be edited without touching its tensors: a larger ``latent_dim``, other
``channels`` or ``size`` would make the loader build (allocate) a model of that size before the weights
failed to load. The loader checks bounds, then compares the stored tensor shapes with a model built on
the ``meta`` device, and only then allocates.
"""
from __future__ import annotations

import json

import pytest
import torch

from animegen import checkpoint as ck
from animegen.checkpoint import load_model, read_header, read_tensors, save_model, save_tensors
from animegen.cli.main import main
from animegen.errors import CheckpointError, ConfigError
from animegen.models import VAE, DataSpec, VAEConfig
from animegen.runs import read_run_config

TINY = dict(widths=(4, 8), latent_dim=8, hidden=16)


@pytest.fixture
def vae_ckpt(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "run" / "final.safetensors"
    save_model(path, VAE(VAEConfig(**TINY), DataSpec(3, 16)))
    return path


def edit_header(path, out, **changes):
    """Rewrite ``path`` to ``out`` with the same tensors and a header changed by ``changes``
    (``model_config`` and ``data`` entries are merged)."""
    header = read_header(path)
    for key, value in changes.items():
        header[key] = {**header[key], **value} if isinstance(value, dict) else value
    save_tensors(out, read_tensors(path), header)
    return out


def no_allocation(monkeypatch):
    """Record the device of every VAE built, and fail if tensor data is read."""
    built = []
    real_init = VAE.__init__

    def init(self, *a, **k):
        built.append(str(torch.get_default_device()))
        real_init(self, *a, **k)

    monkeypatch.setattr(VAE, "__init__", init)
    monkeypatch.setattr(ck, "read_tensors", lambda *a, **k: pytest.fail("tensor data read before the check"))
    return built


@pytest.mark.parametrize("change,needle", [
    (dict(model_config={"latent_dim": 10**7}), "model.latent_dim=10000000"),
    (dict(model_config={"widths": [4, 1 << 20]}), "model.widths"),
    (dict(model_config={"hidden": -5}), "model.hidden"),
    (dict(model_config={"obs_std": float("nan")}), "model.obs_std"),
    (dict(data={"channels": 7}), "data.channels=7"),
    (dict(data={"size": 1 << 20}), "data.size"),
    (dict(data={"size": 15}), "data.size"),
])
def test_out_of_bounds_metadata_is_refused_before_building(vae_ckpt, tmp_path, monkeypatch, change, needle):
    bad = edit_header(vae_ckpt, tmp_path / "bad.safetensors", **change)
    built = no_allocation(monkeypatch)
    with pytest.raises(CheckpointError, match=needle.replace(".", r"\.").replace("[", r"\[")):
        load_model(bad)
    assert built == []


@pytest.mark.parametrize("change,keys", [
    (dict(model_config={"latent_dim": 512}), ["prior_mean [8] in the file, [512] from the config"]),
    (dict(data={"channels": 1}), ["encoder.features.0.0.weight [4, 3, 4, 4] in the file, [4, 1, 4, 4]"]),
    (dict(data={"size": 64}), ["missing encoder.features.2.0.weight"]),
    (dict(model_config={"widths": [4, 16]}), ["encoder.features.1.0.weight [8, 4, 4, 4] in the file, [16, 4, 4, 4]"]),
])
def test_metadata_that_disagrees_with_the_stored_shapes_names_the_keys(vae_ckpt, tmp_path, monkeypatch, change, keys):
    bad = edit_header(vae_ckpt, tmp_path / "bad.safetensors", **change)
    built = no_allocation(monkeypatch)
    with pytest.raises(CheckpointError, match="do not match") as err:
        load_model(bad)
    msg = str(err.value)
    assert "\n" not in msg and all(k in msg for k in keys), msg
    assert built and set(built) == {"meta"}  # only ever built without memory


def test_untouched_checkpoint_still_loads(vae_ckpt):
    model = load_model(vae_ckpt)
    assert model.latent_dim == 8 and next(model.parameters()).device.type == "cpu"


def test_non_finite_weights_are_refused_naming_the_tensor(vae_ckpt, tmp_path, capsys):
    tensors = read_tensors(vae_ckpt)
    tensors["decoder.out.weight"][0, 0, 0, 0] = float("nan")
    tensors["decoder.out.bias"][0] = float("inf")
    bad = tmp_path / "nan.safetensors"
    save_tensors(bad, tensors, read_header(vae_ckpt))
    with pytest.raises(CheckpointError, match=r"decoder\.out\.(weight|bias) holds 1 non-finite"):
        load_model(bad)
    with pytest.raises(SystemExit) as exc:
        main(["sample", str(bad), "--n", "2", "--out", str(tmp_path / "s.png")])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and err.count("\n") == 1 and err.startswith("error: ") and "non-finite" in err
    assert not (tmp_path / "s.png").exists()


def test_model_config_that_is_not_a_table_is_one_line(vae_ckpt, tmp_path):
    bad = edit_header(vae_ckpt, tmp_path / "bad.safetensors", model_config=[1, 2], data="x")
    with pytest.raises(CheckpointError, match="does not fit"):
        load_model(bad)


# ---------------------------------------------------------------------------- run folders and training states


def test_run_config_json_is_checked_like_a_recipe(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cases = {
        "{not json": "not valid JSON",
        "[1, 2]": "expected a JSON object",
        json.dumps({"family": "vae", "model": {"latent_dim": 10**9}}): "model.latent_dim",
        json.dumps({"family": "vae", "train": {"lr": 1}}): "unknown setting",
        json.dumps({"family": "vae", "model": {"lr": "nan"}}): "model.lr=nan",
        json.dumps({"family": "vae", "data": {"channels": 4}}): "data.channels=4",
        json.dumps({"family": 3}): "family",
    }
    for text, needle in cases.items():
        (run / "config.json").write_text(text)
        with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
            read_run_config(run)
    (run / "config.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_run_config(run)


def test_resume_checks_the_state_shapes_before_building(tmp_path, monkeypatch):
    from animegen.config import resolve_run_config
    from animegen.data.sources import ImageSet
    from animegen.train import train

    sets = [f"model.{k}={v}" for k, v in {"widths": "4,8", "latent_dim": 8, "hidden": 16}.items()]
    sets += ["data.size=16", "train.steps=2", "train.batch_size=4", "train.threads=1", "train.precision=fp32",
             "train.eval_every=0", "train.sample_every=0", "train.checkpoint_every=2", "train.log_every=1"]
    cfg = resolve_run_config("vae", overrides=sets)
    images = torch.randint(0, 256, (8, 16, 16, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    data = ImageSet(images.numpy(), "rand", "fp-rand")
    run = train(cfg, tmp_path, data=data)
    config = json.loads((run / "config.json").read_text())
    config["model"]["latent_dim"] = 2048
    (run / "config.json").write_text(json.dumps(config))
    built: list[str] = []
    real_init = VAE.__init__
    monkeypatch.setattr(VAE, "__init__", lambda self, *a, **k: (built.append(str(torch.get_default_device())),
                                                                  real_init(self, *a, **k))[1])
    with pytest.raises(CheckpointError, match=r"config\.json.*model/prior_mean \[8\] in the file, \[2048\]"):
        train(None, resume=run, data=data)
    assert set(built) == {"meta"}
