"""The divergence guard: nothing non-finite is saved; rollback with a lower lr; a clear stop."""
from __future__ import annotations

import pytest
import torch
from train_toys import random_images, state_of, toy_config, toys  # noqa: F401

from animegen.checkpoint import read_header
from animegen.runs import read_metrics
from animegen.train import TrainingDiverged, train


def _all_finite(run):
    for f in run.glob("*.safetensors"):
        for k, t in state_of(f).items():
            if t.is_floating_point():
                assert torch.isfinite(t).all(), f"{f.name}:{k}"


@pytest.mark.parametrize("precision", ["fp32", "fp16"])  # fp16: the GradScaler path (CPU autocast + scaler)
def test_nan_once_rolls_back_with_a_lower_lr_and_finishes(tmp_path, toys, capsys, precision):
    cfg = toy_config("toy-ae", steps=10, checkpoint_every=3, precision=precision,
                     model={"nan_at": 5, "nan_below_lr": 0.0075})
    run = train(cfg, tmp_path, data=random_images())
    assert "rolled back to step 3 with learning rates ×0.5" in capsys.readouterr().err
    events = [m for m in read_metrics(run) if m.get("event") == "rollback"]
    assert len(events) == 1 and events[0]["from_step"] == 5 and events[0]["to_step"] == 3
    head = read_header(run / "train_state.safetensors")
    assert head["step"] == 10 and head["rollbacks"] == 1 and head["lr_scale"] == 0.5
    assert head["optimizers"]["ae"]["param_groups"][0]["lr"] == pytest.approx(0.005)
    assert [m["lr_scale"] for m in read_metrics(run) if "lr_scale" in m][-1] == 0.5
    _all_finite(run)


def test_exploding_gradient_counts_as_divergence(tmp_path, toys):
    cfg = toy_config("toy-ae", steps=8, checkpoint_every=2, max_grad_norm=1e3,
                     model={"explode_at": 4, "nan_below_lr": 0.0075})
    run = train(cfg, tmp_path, data=random_images())
    ev = [m for m in read_metrics(run) if m.get("event") == "rollback"]
    assert len(ev) == 1 and "max_grad_norm" in ev[0]["reason"]
    _all_finite(run)


def test_persistent_nan_stops_after_max_rollbacks_with_the_last_good_state(tmp_path, toys, capsys):
    cfg = toy_config("toy-ae", steps=20, checkpoint_every=3, max_rollbacks=2, model={"nan_at": 4, "nan_always": True})
    with pytest.raises(TrainingDiverged) as err:
        train(cfg, tmp_path, data=random_images())
    msg = str(err.value)
    assert "after 2 rollback(s)" in msg and "×0.25" in msg and "--resume" in msg and "step 3" in msg
    assert capsys.readouterr().err.count("rolled back") == 2
    run = tmp_path / "toy-ae-1"
    head = read_header(run / "train_state.safetensors")
    assert head["step"] == 3 and head["rollbacks"] == 2
    assert not (run / "final.safetensors").exists()
    _all_finite(run)
    assert [m["event"] for m in read_metrics(run) if "event" in m][-1] == "diverged"
