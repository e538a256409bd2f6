"""train.lr_decay: the linear decay of every learning rate over the end of a run (animegen.train.schedule)."""
from __future__ import annotations

import pytest
from train_toys import random_images, toy_config, toys  # noqa: F401  (toys is a fixture)

from animegen.checkpoint import read_header
from animegen.config import TrainConfig
from animegen.errors import ConfigError
from animegen.runs import read_metrics
from animegen.train import train
from animegen.train.schedule import budget_used, decay_factor, run_progress


def test_decay_factor_is_flat_then_linear_to_the_final_share():
    assert [decay_factor(p, 0.5, 0.0) for p in (0.0, 0.5, 0.75, 1.0)] == [1.0, 1.0, 0.5, 0.0]
    assert decay_factor(1.0, 0.25, 0.1) == pytest.approx(0.1)
    assert decay_factor(0.875, 0.25, 0.1) == pytest.approx(0.55)
    assert decay_factor(0.99, 0.0, 0.0) == 1.0  # share 0: constant


def test_progress_is_the_nearest_limit():
    tc = TrainConfig(steps=100, max_minutes=0, max_cpu_minutes=0)
    assert run_progress(tc, 25, budget_used(tc, wall_s=1e6, cpu_s=1e6)) == 0.25  # no time budget: steps alone
    tc = TrainConfig(steps=100, max_minutes=10, max_cpu_minutes=2)
    assert run_progress(tc, 25, budget_used(tc, wall_s=60, cpu_s=90)) == 0.75  # the CPU budget is nearest its end
    assert run_progress(tc, 25, budget_used(tc, wall_s=900, cpu_s=0)) == 1.0  # clipped
    assert budget_used(tc, wall_s=900, cpu_s=0) == 1.5  # out of time (the trainer stops at 1)


def test_a_run_decays_its_learning_rate_over_its_last_half(tmp_path, toys):
    cfg = toy_config("toy-ae", steps=10, log_every=1, lr_decay=0.5, lr_decay_to=0.0)
    run = train(cfg, tmp_path, data=random_images())
    factors = {m["step"]: m["lr_decay_factor"] for m in read_metrics(run) if "lr_decay_factor" in m}
    # step k+1 trains at the factor of progress k/10: flat for the first half, then down by 0.2 per step
    assert [round(factors[s], 6) for s in range(1, 11)] == [1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2]
    lr = read_header(run / "train_state.safetensors")["optimizers"]["ae"]["param_groups"][0]["lr"]
    assert lr == pytest.approx(cfg.model.lr * 0.2)


def test_no_decay_by_default_and_no_extra_log_key(tmp_path, toys):
    run = train(toy_config("toy-ae", steps=4), tmp_path, data=random_images())
    assert not any("lr_decay_factor" in m for m in read_metrics(run))


@pytest.mark.parametrize("key,value", [("lr_decay", 1.5), ("lr_decay", -0.1), ("lr_decay_to", 2.0)])
def test_bad_decay_settings_fail_before_the_first_step(tmp_path, toys, key, value):
    with pytest.raises(ConfigError, match=r"train\.lr_decay"):
        train(toy_config("toy-ae", steps=4, **{key: value}), tmp_path, data=random_images())
    assert not list(tmp_path.iterdir())  # nothing was created
