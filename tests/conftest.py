"""Shared fixtures. Real data is read from ../shared/data (never copied into the project); tests that
need it skip with a clear reason when it is absent. Override the location with ANIMEGEN_SHARED_DATA."""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ANIMEGEN_SHARED_DATA", REPO.parent / "shared" / "data"))

# tests are small: one thread each keeps them fast and deterministic on 2 cores
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (set ANIMEGEN_SHARED_DATA to ../shared/data)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _need(SHARED_DATA)


@pytest.fixture(scope="session")
def anime_faces_tar(shared_data) -> Path:
    return _need(shared_data / "anime-faces-64.tar")


@pytest.fixture(scope="session")
def anime_faces_dir(anime_faces_tar, tmp_path_factory) -> Path:
    """The 16,052 real 64 px face crops, extracted once per test session into a temp folder."""
    out = tmp_path_factory.mktemp("anime-faces")
    with tarfile.open(anime_faces_tar) as tf:
        tf.extractall(out, filter="data")
    return out / "anime-faces-64"


@pytest.fixture(scope="session")
def mnist_dir(shared_data) -> Path:
    return _need(shared_data / "mnist")


@pytest.fixture(scope="session")
def cascade_xml(shared_data) -> Path:
    return _need(shared_data / "detect" / "lbpcascade_animeface.xml")


@pytest.fixture(autouse=True)
def _not_quiet_after_cli_calls():
    """`main(["--quiet", ...])` sets a process-wide flag; library calls in later tests must not inherit it."""
    yield
    from animegen.progress import set_quiet

    set_quiet(False)


def _find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium for the browser tests, installed from Debian packages when missing (never a download
    by Playwright); the tests skip with the reason when it cannot be had."""
    found = _find_chromium()
    if found:
        return found
    if not shutil.which("apt-get") or (hasattr(os, "geteuid") and os.geteuid() != 0):
        pytest.skip("chromium is not installed and apt-get is unavailable (or not root): cannot drive a browser")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=env, check=True, capture_output=True,
                       timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"chromium is not installed and `apt-get install -y chromium` failed: {exc}")
    found = _find_chromium()
    if not found:
        pytest.skip("apt-get installed chromium but no chromium executable is on PATH")
    return found
