"""One writer per run: a second trainer of the same run folder stops at once with "in use by pid N"."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from train_toys import random_images, toy_config, toys  # noqa: F401 (fixture)

from animegen.runs import RunInUse, RunLock
from animegen.train import train

HERE = Path(__file__).resolve().parent


def test_second_lock_in_one_process_is_refused_and_released(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunInUse, match=f"run {tmp_path} is in use by pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
    with RunLock(tmp_path):  # released on exit: the next writer gets it
        pass


@pytest.mark.usefixtures("toys")
def test_resume_of_a_run_in_use_fails_without_touching_it(tmp_path):
    data = random_images()
    run = train(toy_config(steps=4, checkpoint_every=2), tmp_path, data=data)
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file() and p.name != ".lock"}
    with RunLock(run):  # another process is training it
        with pytest.raises(RunInUse, match="in use by pid"):
            train(toy_config(steps=8, checkpoint_every=2), tmp_path, resume=run, data=data)
    after = {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file() and p.name != ".lock"}
    assert after == before
    assert train(toy_config(steps=8, checkpoint_every=2), tmp_path, resume=run, data=data) == run


def test_lock_is_released_when_the_holder_dies(tmp_path):
    code = f"from animegen.runs import RunLock; RunLock({str(tmp_path)!r}).acquire(); print('held', flush=True); " \
           "import time; time.sleep(60)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(RunInUse, match=f"pid {proc.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while True:  # the kernel drops a dead process's flock; a stale .lock file blocks nobody
        try:
            RunLock(tmp_path).acquire().release()
            break
        except RunInUse:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_planted_lock_file_is_never_written_through(tmp_path):
    """``.lock`` is a symlink to a file we do not own, or a FIFO: refused, the target untouched."""
    from animegen.errors import AnimegenError

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").symlink_to(victim)
    with pytest.raises(AnimegenError, match="cannot lock run"):
        RunLock(run).acquire()
    assert victim.read_text() == "precious"
    (run / ".lock").unlink()
    os.mkfifo(run / ".lock")
    with pytest.raises(AnimegenError, match="not a regular file"):
        RunLock(run).acquire()
