"""`animegen sample`: grids, separate PNGs, seeds, run folders, and junk input as one clear line."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_toys import ToyGAN, ToyGANConfig, toys  # noqa: E402,F401

from animegen.checkpoint import save_model  # noqa: E402
from animegen.cli.main import main  # noqa: E402
from animegen.models import DataSpec  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.fixture
def ckpt(tmp_path, toys):
    torch.manual_seed(0)
    model = ToyGAN(ToyGANConfig(), DataSpec(3, 16))
    path = tmp_path / "run-1" / "final.safetensors"
    save_model(path, model)
    return path


def test_grid_is_deterministic_per_seed(ckpt, tmp_path, capsys):
    paths = [tmp_path / f"g{i}.png" for i in range(3)]
    for p, seed in zip(paths, (0, 0, 1), strict=True):
        code, out, err = run_cli(["sample", str(ckpt), "--n", "6", "--seed", str(seed), "--nrow", "3", "--out", str(p)],
                                 capsys)
        assert code == 0, err
        assert out.strip() == str(p)
    a, b, c = (np.asarray(Image.open(p)) for p in paths)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape[1] > a.shape[0]  # 3 columns × 2 rows


def test_separate_pngs_and_run_folder_argument(ckpt, tmp_path, capsys):
    folder = tmp_path / "many"
    code, out, err = run_cli(["sample", str(ckpt.parent), "--n", "5", "--separate", "--out", str(folder),
                              "--truncation", "0.5"], capsys)
    assert code == 0, err
    files = sorted(folder.glob("*.png"))
    assert [f.name for f in files] == [f"{i:04d}.png" for i in range(5)]
    assert Image.open(files[0]).size == (16, 16)


def test_separate_refuses_a_png_target(ckpt, tmp_path, capsys):
    code, _, err = run_cli(["sample", str(ckpt), "--separate", "--out", str(tmp_path / "x.png")], capsys)
    assert code == 1 and "folder" in err


def test_junk_file_is_one_clear_line_without_traceback(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a checkpoint at all, just some bytes" * 3)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run([sys.executable, "-m", "animegen", "sample", str(junk), "--out", str(tmp_path / "o.png")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "not an animegen checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_empty_file_in_process(tmp_path, capsys):
    junk = tmp_path / "empty.safetensors"
    junk.write_bytes(b"")
    code, _, err = run_cli(["sample", str(junk)], capsys)
    assert code == 1 and err.startswith("error: ") and "truncated or empty" in err


def test_missing_and_empty_folder(tmp_path, capsys):
    code, _, err = run_cli(["sample", str(tmp_path / "nope.safetensors")], capsys)
    assert code == 1 and "no such file" in err
    code, _, err = run_cli(["sample", str(tmp_path)], capsys)
    assert code == 1 and "no final/best/last" in err
