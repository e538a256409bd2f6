"""Offline mode: `animegen --offline` (or the Hugging Face variables) refuses every download in one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegen import offline

pytest.importorskip("datasets")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in offline.ENV_VARS}
    env.update(HF_HOME=str(tmp_path / "hf-home"), ANIMEGEN_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "animegen", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def _imagefolder(root: Path, n: int = 4) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize("how", ["flag", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"])
def test_hub_name_is_refused_offline_in_one_line(tmp_path, how):
    env = _env(tmp_path) if how == "flag" else _env(tmp_path, **{how: "1"})
    args = (["--offline"] if how == "flag" else []) + ["prepare", "hf:nobody/no-such-dataset", "--out", "out"]
    line = _one_error_line(_run(args, env, tmp_path))
    assert "offline" in line.lower()
    assert not (tmp_path / "out").exists()


def test_local_imagefolder_works_offline(tmp_path):
    src = _imagefolder(tmp_path / "imgs")
    r = _run(["--offline", "prepare", f"hf:{src}", "--size", "32", "--out", "out", "-j", "1"], _env(tmp_path), tmp_path)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["count"] == 4


def test_is_offline_reads_every_variable(monkeypatch):
    for var in offline.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    assert not offline.is_offline()
    for var in offline.ENV_VARS:
        monkeypatch.setenv(var, "1")
        assert offline.is_offline(), var
        monkeypatch.setenv(var, "0")
    assert not offline.is_offline()


def test_set_offline_turns_on_the_hugging_face_switches(monkeypatch):
    for var in offline.ENV_VARS:
        monkeypatch.delenv(var, raising=False)  # restored after the test
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "yes")
    offline.sync_offline()
    assert all(os.environ[v] == "1" for v in offline.ENV_VARS)
