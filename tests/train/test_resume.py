"""Resume is bit-identical: N + N steps equal 2N straight, after a clean stop, a Ctrl-C or a SIGKILL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_toys import random_images, state_of, toy_config, toys  # noqa: F401

from animegen.checkpoint import read_header
from animegen.errors import CheckpointError, ConfigError
from animegen.runs import read_metrics
from animegen.train import load_run_config, train

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def assert_same_state(a: Path, b: Path) -> None:
    """Every tensor of two training states (weights, optimizers, EMA, RNG) and exports is equal."""
    sa, sb = state_of(a / "train_state.safetensors"), state_of(b / "train_state.safetensors")
    assert sa.keys() == sb.keys()
    diff = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not diff, f"differs: {diff[:5]}"
    fa, fb = state_of(a / "final.safetensors"), state_of(b / "final.safetensors")
    assert all(torch.equal(fa[k], fb[k]) for k in fa)
    ha, hb = read_header(a / "train_state.safetensors"), read_header(b / "train_state.safetensors")
    for key in ("step", "loader", "epoch", "rollbacks", "lr_scale", "rng", "optimizers"):
        assert ha[key] == hb[key], key


@pytest.mark.parametrize("family,kw", [
    ("toy-ae", dict(channels_last=True)),  # latent noise from the global RNG, hflip, EMA, val/best
    ("toy-gan", dict(model={"n_critic": 2, "bn": True})),  # two optimizers, BN buffers, critic batches
])
def test_n_plus_n_equals_2n(tmp_path, toys, family, kw, capsys):
    data = random_images()
    straight = train(toy_config(family, steps=14, **kw), tmp_path / "a", data=data)
    half = train(toy_config(family, steps=7, **kw), tmp_path / "b", data=data)
    cfg = load_run_config(half)
    cfg.train.steps = 14
    resumed = train(cfg, tmp_path / "b", resume=half, data=data)
    assert resumed == half
    assert f"resuming {half} from step 7" in capsys.readouterr().err
    assert_same_state(straight, resumed)
    # the metric log reads as one run: each step once, in order (7 = the end of the first half)
    assert [m["step"] for m in read_metrics(resumed) if "train/loss" in m or "train/loss_g" in m] == [2, 4, 6, 7, 8, 10,
                                                                                                   12, 14]


def test_resume_needs_a_state_and_refuses_dry_run(tmp_path, toys):
    with pytest.raises(ConfigError, match="not a run folder"):
        train(None, tmp_path, resume=tmp_path / "nope")
    run = tmp_path / "empty-1"
    run.mkdir()
    (run / "config.json").write_text('{"family": "toy-ae"}')
    with pytest.raises(CheckpointError, match="no train_state"):
        train(None, tmp_path, resume=run, data=random_images())
    with pytest.raises(ConfigError, match="dry-run"):
        train(None, tmp_path, resume=run, dry_run=True)


def _cli(out: Path, steps: int, sleep: float) -> list[str]:
    sets = [f"train.steps={steps}", "train.batch_size=8", "train.precision=fp32", "train.log_every=1",
            "train.sample_every=6", "train.checkpoint_every=5", "train.eval_every=6", "train.n_sample_grid=4",
            "train.ema_decay=0.9", "train.threads=1", "train.device=cpu", "data.size=16", "data.val_fraction=0.1",
            f"model.sleep={sleep}"]
    cmd = [sys.executable, str(HERE / "toy_cli.py"), "-q", "train", "--model", "toy-ae", "--data", "random:48",
           "--out", str(out)]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _wait_for(predicate, proc, timeout=120.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def test_sigkill_mid_run_resumes_from_the_last_checkpoint(tmp_path, toys):
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(out, 1000, 0.1), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = out / "toy-ae-1" / "train_state.safetensors"

    def checkpointed():
        try:
            return state.exists() and read_header(state)["step"] >= 5
        except CheckpointError:  # never expected: writes are atomic
            raise
    try:
        assert _wait_for(checkpointed, proc), proc.stderr.read().decode() if proc.poll() is not None else "timeout"
        time.sleep(0.17)  # land somewhere inside a later step
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    run = out / "toy-ae-1"
    for f in run.glob("*.safetensors"):
        read_header(f)  # every file that exists is complete
    step = read_header(state)["step"]
    assert step % 5 == 0 and step < 30

    data = random_images()
    cfg = load_run_config(run)
    cfg.train.steps, cfg.model.sleep = 30, 0.0  # (sleep changes nothing numerically)
    train(cfg, out, resume=run, data=data)
    assert not list(run.glob(".*.tmp"))
    straight = train(toy_config("toy-ae", steps=30, checkpoint_every=5, log_every=1), tmp_path / "straight", data=data)
    assert_same_state(straight, run)


def test_ctrl_c_saves_a_resumable_checkpoint_and_exits_130(tmp_path, toys):
    out = tmp_path / "int"
    proc = subprocess.Popen(_cli(out, 1000, 0.1), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    metrics = out / "toy-ae-1" / "metrics.jsonl"
    try:
        assert _wait_for(lambda: metrics.exists() and metrics.read_text().count("train/loss") >= 3, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = err.decode()
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "--resume" in err and "Traceback" not in err
    run = out / "toy-ae-1"
    step = read_header(run / "train_state.safetensors")["step"]
    assert read_header(run / "last.safetensors")["step"] == step >= 3

    data = random_images()
    cfg = load_run_config(run)
    cfg.train.steps, cfg.model.sleep = step + 4, 0.0
    train(cfg, out, resume=run, data=data)
    straight = train(toy_config("toy-ae", steps=step + 4, checkpoint_every=5, log_every=1), tmp_path / "s", data=data)
    assert_same_state(straight, run)


def test_tensorboard_shows_each_step_once_after_a_resume(tmp_path, toys, monkeypatch):
    """A killed run may have logged past its last checkpoint; the resumed run's TensorBoard purges those."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.summary.writer import event_file_writer
    from torch.utils.tensorboard import SummaryWriter

    from animegen.runs import wait_past_event_files

    # event files of one process end in a counter: from 9 the segments' names end .9, .10, .11, which sort
    # .10 < .11 < .9 within one second (what a long test session or a notebook that trains twice meets)
    monkeypatch.setattr(event_file_writer._global_uid, "_value", 9, raising=True)
    data = random_images()
    half = train(toy_config("toy-ae", steps=7), tmp_path, data=data)
    wait_past_event_files(half / "tb")  # the ghost's file sorts after the first segment's, as a later process's would
    ghost = SummaryWriter(log_dir=str(half / "tb"))  # what the killed run logged after step 7
    for step in (8, 9, 10):
        ghost.add_scalar("train/loss", 999.0, step)
    ghost.close()
    cfg = load_run_config(half)
    cfg.train.steps = 10
    train(cfg, tmp_path, resume=half, data=data)
    acc = EventAccumulator(str(half / "tb"))
    acc.Reload()
    events = acc.Scalars("train/loss")
    steps = [e.step for e in events]
    assert steps == sorted(set(steps)) and steps[-2:] == [8, 10], steps
    assert all(e.value != 999.0 for e in events)
    jsonl = [m["train/loss"] for m in read_metrics(half) if "train/loss" in m]
    assert [round(e.value, 4) for e in events] == [round(v, 4) for v in jsonl]


def test_a_new_event_file_sorts_after_those_already_in_the_folder(tmp_path):
    """Within one second TensorBoard's names order by counter as text (``.10`` before ``.2``): wait for the next."""
    import time

    from animegen.runs import wait_past_event_files

    now = int(time.time())
    (tmp_path / f"events.out.tfevents.{now:010d}.host.99.10").write_bytes(b"")
    (tmp_path / "unrelated.txt").write_bytes(b"")
    wait_past_event_files(tmp_path)
    assert int(time.time()) > now
    later = now + 3600  # a clock set back: the wait is bounded
    (tmp_path / f"events.out.tfevents.{later:010d}.host.99.2").write_bytes(b"")
    t0 = time.monotonic()
    wait_past_event_files(tmp_path, max_wait_s=0.2)
    assert time.monotonic() - t0 < 1.0
    wait_past_event_files(tmp_path / "absent")  # no folder yet: returns at once
