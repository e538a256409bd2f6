"""Shared fixtures. Real data is read from ../shared/data (never copied into the project); tests that
need it skip with a clear reason when it is absent. Override the location with ANIMEGEN_SHARED_DATA."""
from __future__ import annotations

import os
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
