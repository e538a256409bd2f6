"""The trainer end to end on toy models: run folder, checkpoints, EMA export, determinism, GAN signals."""
from __future__ import annotations

import json

import torch
from PIL import Image
from train_toys import random_images, state_of, toy_config, toys  # noqa: F401  (toys is a fixture)

from animegen.checkpoint import load_model, read_header
from animegen.config import run_config_from_dict, to_dict
from animegen.runs import read_metrics
from animegen.train import Trainer, train


def test_run_folder_layout_and_contents(tmp_path, toys):
    cfg = toy_config("toy-ae", steps=18, checkpoint_every=6, sample_every=6, eval_every=6, keep_checkpoints=2)
    run = train(cfg, tmp_path, data=random_images())
    assert run.parent == tmp_path and run.name == "toy-ae-1"
    names = {p.name for p in run.iterdir()}
    assert {"config.json", "metrics.jsonl", "tb", "samples", "recon", "last.safetensors", "final.safetensors",
            "best.safetensors", "train_state.safetensors", "step-000012.safetensors",
            "step-000018.safetensors"} <= names
    assert "step-000006.safetensors" not in names  # only the newest keep_checkpoints are kept
    assert not [n for n in names if n.endswith(".tmp")]
    assert run_config_from_dict(json.loads((run / "config.json").read_text())) == cfg
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-000006.png", "step-000012.png",
                                                                   "step-000018.png"]
    recon = Image.open(run / "recon" / "step-000018.png")
    assert recon.height > 2 * 16 * 2 and recon.width > recon.height  # two rows of 5 val images + labels

    metrics = read_metrics(run)
    keys = set().union(*metrics)
    assert {"train/loss", "grad_norm/ae", "val/recon", "health/diversity", "perf/img_per_s",
            "perf/data_share", "lr_scale"} <= keys
    assert [m["event"] for m in metrics if "event" in m and m["event"] != "best"] == ["start", "end"]
    assert [m["step"] for m in metrics if "train/loss" in m] == list(range(2, 19, 2))

    head = read_header(run / "final.safetensors")
    assert head["step"] == 18 and head["family"] == "toy-ae" and head["extra"]["ema"] is True
    model = load_model(run / "final.safetensors")
    raw = state_of(run / "train_state.safetensors")
    # exported = EMA decoder + raw encoder
    assert torch.equal(model.state_dict()["encoder.3.weight"], raw["model/encoder.3.weight"])
    assert not torch.equal(model.state_dict()["decoder.0.weight"], raw["model/decoder.0.weight"])
    assert torch.equal(model.state_dict()["decoder.0.weight"], raw["ema/p.0.weight"])
    best = read_header(run / "best.safetensors")["extra"]["best"]
    assert best["metric"] == "val/recon" and best["step"] in (6, 12, 18)


def test_same_seed_same_weights_different_seed_different(tmp_path, toys):
    data = random_images()
    runs = [train(toy_config("toy-gan", steps=6, seed=s, channels_last=True), tmp_path, data=data) for s in (0, 0, 1)]
    a, b, c = (state_of(r / "final.safetensors") for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_gan_gets_batches_per_step_images_and_logs_its_signals(tmp_path, toys):
    cfg = toy_config("toy-gan", steps=4, batch_size=4, channels_last=True, model={"n_critic": 3})
    trainer = Trainer(cfg, tmp_path, data=random_images())
    run = trainer.run()
    assert trainer.model.last_batch_shape == (12, 3, 16, 16)  # n_critic × batch_size
    assert trainer.model.last_batch_channels_last
    keys = set().union(*read_metrics(run))
    assert {"train/d_real", "train/d_fake", "train/loss_d", "train/loss_g", "grad_norm/g", "grad_norm/d"} <= keys
    assert not (run / "recon").exists()  # no encoder, no reconstruction grid
    assert not (run / "best.safetensors").exists()  # no validation loss for this GAN
    assert load_model(run / "final.safetensors").family == "toy-gan"


def test_mode_collapse_warning(tmp_path, toys, capsys):
    cfg = toy_config("toy-gan", steps=4, eval_every=2, model={"collapse": True})
    run = train(cfg, tmp_path, data=random_images())
    assert "mode-collapsing" in capsys.readouterr().err
    evals = [m for m in read_metrics(run) if "health/diversity" in m]
    assert evals[-1]["health/diversity"] < 1e-6 and evals[-1]["health/collapse_warning"] == 1.0


def test_time_budget_stops_cleanly(tmp_path, toys):
    cfg = toy_config("toy-ae", steps=10_000, max_minutes=0.01, model={"sleep": 0.05})
    run = train(cfg, tmp_path, data=random_images())
    head = read_header(run / "final.safetensors")
    assert 0 < head["step"] < 10_000
    assert read_header(run / "train_state.safetensors")["step"] == head["step"]
    assert [m for m in read_metrics(run) if m.get("event") == "end"][0]["reason"] == "time"


def test_cpu_time_budget_stops_cleanly(tmp_path, toys):
    cfg = toy_config("toy-ae", steps=100_000)
    cfg.train.max_cpu_minutes = 0.005  # 0.3 s of process CPU time
    run = train(cfg, tmp_path, data=random_images())
    assert 0 < read_header(run / "final.safetensors")["step"] < 100_000
    assert [m for m in read_metrics(run) if m.get("event") == "end"][0]["reason"] == "time"


def test_dry_run_and_bf16_channels_last(tmp_path, toys):
    cfg = toy_config("toy-ae", steps=500, precision="bf16", channels_last=True, batch_size=32)
    run = train(cfg, tmp_path, dry_run=True, data=random_images())
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["steps"] == 2 and saved["train"]["batch_size"] == 8
    assert read_header(run / "final.safetensors")["step"] == 2
    assert (run / "samples" / "step-000002.png").exists() and (run / "recon" / "step-000002.png").exists()
    assert [m for m in read_metrics(run) if m.get("event") == "start"][0]["precision"] == "bf16"


def test_dry_run_shrinks_synthetic_sources():
    from animegen.train.setup import dry_run_config

    cfg = toy_config("toy-ae")
    cfg.data.source = "synth:20000:3"
    assert dry_run_config(cfg).data.source == "synth:64:3"
    assert to_dict(cfg)["data"]["source"] == "synth:20000:3"  # the caller's config is untouched
