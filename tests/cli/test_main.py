"""The command-line surface: every promised command exists, errors are one line, doctor runs."""
from __future__ import annotations

import subprocess
import sys

import pytest

REQUIRED = ["synth", "prepare", "train", "sample", "evaluate", "compare", "fid-ref", "experiment", "studio", "doctor"]


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "animegen", *args], capture_output=True, text=True,
                          timeout=300, **kw)


def test_help_lists_every_command():
    r = run("--help")
    assert r.returncode == 0, r.stderr
    for name in REQUIRED:
        assert f" {name} " in r.stdout, f"`animegen --help` does not list {name}"


@pytest.mark.parametrize("name", REQUIRED)
def test_each_command_has_help_with_example(name):
    r = run(name, "--help")
    assert r.returncode == 0, r.stderr
    assert "animegen " + name in r.stdout.replace("\n", " "), f"`{name} --help` shows no example"


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("animegen ")


def test_unknown_command_is_a_usage_error():
    r = run("frobnicate")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_doctor_runs():
    r = run("doctor")
    assert r.returncode == 0, r.stderr
    for part in ("torch", "cpu bf16", "fid weights", "studio", "checks ok"):
        assert part in r.stdout


def test_sample_junk_file_one_line(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"definitely not a checkpoint" * 10)
    r = run("sample", str(junk), "--out", str(tmp_path / "x.png"))
    assert r.returncode != 0
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "x.png").exists()
