"""Two runs trained at the same time in one process (animegen.train.side_by_side, used by the demo)."""
from __future__ import annotations

import sys

import pytest
import torch
from train_toys import random_images, toy_config, toys  # noqa: F401  (toys is a fixture)

from animegen.checkpoint import read_header
from animegen.runs import FINAL, STATE
from animegen.train import TrainingDiverged
from animegen.train.side_by_side import train_side_by_side


def test_both_runs_finish_in_their_own_folders_and_the_thread_settings_are_restored(tmp_path, toys):
    before, interval = torch.get_num_threads(), sys.getswitchinterval()
    main_dir, other_dir = train_side_by_side(toy_config("toy-ae", steps=6, threads=0),
                                             toy_config("toy-gan", steps=5, threads=0), tmp_path,
                                             data=random_images(), threads=1)
    assert (main_dir.name, other_dir.name) == ("toy-ae-1", "toy-gan-1")
    assert read_header(main_dir / FINAL)["step"] == 6 and read_header(other_dir / FINAL)["step"] == 5
    assert torch.get_num_threads() == before and sys.getswitchinterval() == interval


def test_a_failure_in_the_background_run_is_raised_once_the_main_run_is_done(tmp_path, toys):
    failing = toy_config("toy-ae", steps=20, checkpoint_every=3, max_rollbacks=1,
                         model={"nan_at": 4, "nan_always": True})
    failing.name = "failing"
    with pytest.raises(TrainingDiverged):
        train_side_by_side(toy_config("toy-ae", steps=8), failing, tmp_path, data=random_images())
    assert read_header(tmp_path / "toy-ae-1" / FINAL)["step"] == 8  # the main run was not cut short
    assert read_header(tmp_path / "failing-1" / STATE)["step"] == 3  # the other kept its last good state


def test_when_the_main_run_fails_the_other_stops_and_leaves_a_resumable_state(tmp_path, toys):
    failing = toy_config("toy-ae", steps=20, checkpoint_every=3, max_rollbacks=1,
                         model={"nan_at": 4, "nan_always": True})
    slow = toy_config("toy-ae", steps=100_000, checkpoint_every=100_000, model={"sleep": 0.01})
    slow.name = "slow"
    with pytest.raises(TrainingDiverged):
        train_side_by_side(failing, slow, tmp_path, data=random_images())
    step = read_header(tmp_path / "slow-1" / STATE)["step"]
    assert 0 <= step < 100_000 and not (tmp_path / "slow-1" / FINAL).exists()
