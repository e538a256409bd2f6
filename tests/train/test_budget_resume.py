"""A run stopped inside its time budget and resumed without a new one finishes that budget, decay included
(animegen.train.schedule.unfinished_budget); a new budget, or a spent one, starts afresh."""
from __future__ import annotations

import pytest
from test_resume import assert_same_state
from train_toys import BUDGET_STEPS, random_images, step_clock, toy_config, toys  # noqa: F401  (fixtures)

from animegen.checkpoint import read_header
from animegen.config import TrainConfig
from animegen.errors import CheckpointError
from animegen.runs import read_metrics
from animegen.train import load_run_config, train
from animegen.train.schedule import budget_record, unfinished_budget


def _config():
    return toy_config("toy-ae", steps=10_000, max_cpu_minutes=BUDGET_STEPS / 60, lr_decay=0.5, log_every=1,
                      checkpoint_every=5)


def _stopped_at_step_8(out, data, clock):
    """A run of _config() stopped with Ctrl-C after its 8th step (8 of its 20 CPU-seconds)."""
    clock["stop_at"] = 8
    with pytest.raises(KeyboardInterrupt):
        train(_config(), out, data=data)
    clock["stop_at"] = -1
    return out / "toy-ae-1"


def _factors(run):
    return {m["step"]: round(m["lr_decay_factor"], 6) for m in read_metrics(run) if "lr_decay_factor" in m}


def test_a_stopped_run_finishes_its_budget_and_decay_bit_identically(tmp_path, toys, step_clock):
    data = random_images()
    straight = train(_config(), tmp_path / "straight", data=data)
    assert read_header(straight / "final.safetensors")["step"] == BUDGET_STEPS

    run = _stopped_at_step_8(tmp_path / "stopped", data, step_clock)  # inside the budget, before the decay
    assert read_header(run / "train_state.safetensors")["budget"]["cpu_s"] == 8.0
    train(load_run_config(run), tmp_path / "stopped", resume=run, data=data)

    assert read_header(run / "final.safetensors")["step"] == BUDGET_STEPS  # 12 more steps, not 20
    assert _factors(run) == _factors(straight)  # the decay went on where it was
    assert_same_state(straight, run)
    resumed = next(m for m in read_metrics(run) if m.get("event") == "resume")
    assert resumed["budget_spent_s"]["cpu"] == 8.0


def test_a_new_budget_or_a_spent_one_starts_afresh(tmp_path, toys, step_clock):
    data = random_images()
    run = _stopped_at_step_8(tmp_path, data, step_clock)
    train(load_run_config(run), tmp_path, resume=run, data=data, fresh_budget=True)  # --set train.max_cpu_minutes
    assert read_header(run / "final.safetensors")["step"] == 8 + BUDGET_STEPS
    train(load_run_config(run), tmp_path, resume=run, data=data)  # the budget was spent: another whole one
    assert read_header(run / "final.safetensors")["step"] == 8 + 2 * BUDGET_STEPS


def test_a_run_that_ended_at_its_steps_gets_a_fresh_budget_for_more_steps(tmp_path, toys, step_clock):
    data = random_images()
    cfg = _config()
    cfg.train.steps = 6  # ends at its steps, inside its 20-second budget
    run = train(cfg, tmp_path, data=data)
    cfg = load_run_config(run)
    cfg.train.steps = 10_000
    train(cfg, tmp_path, resume=run, data=data)
    assert read_header(run / "final.safetensors")["step"] == 6 + BUDGET_STEPS


def test_a_changed_budget_starts_afresh(tmp_path, toys, step_clock):
    data = random_images()
    run = _stopped_at_step_8(tmp_path, data, step_clock)
    cfg = load_run_config(run)
    cfg.train.max_cpu_minutes = 5 / 60  # a library caller's new limit
    train(cfg, tmp_path, resume=run, data=data)
    assert read_header(run / "final.safetensors")["step"] == 8 + 5


def test_unfinished_budget_reads_only_a_sound_record():
    tc = TrainConfig(max_minutes=0, max_cpu_minutes=2)
    assert unfinished_budget(budget_record(tc, 30.0, 60.0), tc) == (30.0, 60.0)
    assert unfinished_budget(None, tc) is None  # a state saved before budgets were recorded
    assert unfinished_budget(budget_record(tc, 0.0, 120.0), tc) is None  # spent
    assert unfinished_budget(budget_record(tc, 30.0, 60.0, ended=True), tc) is None  # ended at train.steps
    assert unfinished_budget(budget_record(TrainConfig(max_cpu_minutes=3), 0.0, 60.0), tc) is None  # other limits
    no_budget = TrainConfig(max_minutes=0, max_cpu_minutes=0)
    assert unfinished_budget(budget_record(no_budget, 5.0, 5.0), no_budget) is None
    for bad in ({"max_minutes": 0}, {**budget_record(tc, 0, 1), "cpu_s": "x"}, [1, 2],
                {**budget_record(tc, 0, 1), "cpu_s": float("nan")}, {**budget_record(tc, 0, 1), "wall_s": -1}):
        with pytest.raises(CheckpointError, match="budget record is damaged"):
            unfinished_budget(bad, tc)
