"""`animegen studio` on the command line: help with examples, and mistakes as one line, never a traceback."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "animegen", *args], capture_output=True, text=True, timeout=300,
                          env=env)


def test_help_has_examples():
    r = run("studio", "--help")
    assert r.returncode == 0 and "animegen studio runs/" in r.stdout and "127.0.0.1" in r.stdout


def test_mistakes_are_one_line(tmp_path):
    r = run("studio", str(tmp_path / "missing"), "--port", "7999")
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing'}: no such "
                                                                    "checkpoint or folder"]
    r = run("studio", "--port", "70000")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a checkpoint")
    r = run("studio", str(bad), "--port", "7999")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: ")


def test_open_host_warns_before_serving(tmp_path):
    r = run("studio", str(tmp_path / "missing"), "--host", "0.0.0.0")
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("warning: --host 0.0.0.0 makes the studio reachable") and lines[1].startswith("error:")
