"""Commands never write over their inputs or over files animegen did not write (one ``error:`` line, exit 1,
the file byte-identical afterwards)."""
from __future__ import annotations

import io
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

pytestmark = pytest.mark.timeout(120)


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--quiet", *argv])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def refused(argv, capsys, *protected: Path, match: str = "") -> str:
    before = {p: p.read_bytes() for p in protected}
    code, _, err = run_cli(argv, capsys)
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert match in err
    for p, data in before.items():
        assert p.read_bytes() == data, f"{p} changed"
    return err


@pytest.fixture
def ckpt(tmp_path, toys):  # noqa: F811 - the fixture imported above
    torch.manual_seed(0)
    path = tmp_path / "run-1" / "final.safetensors"
    save_model(path, ToyGAN(ToyGANConfig(), DataSpec(3, 16)))
    return path


def test_sample_out_checkpoint_is_refused(ckpt, capsys):
    refused(["sample", str(ckpt), "--n", "4", "--out", str(ckpt)], capsys, ckpt, match="is an input")
    # the run folder stands for its final.safetensors: the same file by another name
    refused(["sample", str(ckpt.parent), "--n", "4", "--out", str(ckpt)], capsys, ckpt, match="is an input")


def test_sample_never_replaces_a_file_it_did_not_write(ckpt, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(photo)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    refused(["sample", str(ckpt), "--n", "4", "--out", str(photo)], capsys, photo, match="not written by animegen")
    refused(["sample", str(ckpt), "--n", "4", "--out", str(notes)], capsys, notes)
    grid = tmp_path / "grid.png"
    assert run_cli(["sample", str(ckpt), "--n", "4", "--out", str(grid)], capsys)[0] == 0
    assert run_cli(["sample", str(ckpt), "--n", "4", "--seed", "1", "--out", str(grid)], capsys)[0] == 0  # ours


def test_sample_separate_keeps_the_users_files(ckpt, tmp_path, capsys):
    folder = tmp_path / "faces"
    folder.mkdir()
    (folder / "README.txt").write_text("mine")
    assert run_cli(["sample", str(ckpt), "--n", "3", "--separate", "--out", str(folder)], capsys)[0] == 0
    assert sorted(p.name for p in folder.iterdir()) == ["0000.png", "0001.png", "0002.png", "README.txt"]
    assert run_cli(["sample", str(ckpt), "--n", "3", "--separate", "--out", str(folder)], capsys)[0] == 0  # ours
    Image.new("RGB", (8, 8)).save(folder / "0003.png")  # a user's picture under one of our names
    refused(["sample", str(ckpt), "--n", "4", "--separate", "--out", str(folder)], capsys, folder / "0003.png",
            folder / "0000.png", match="0003.png")


def test_evaluate_out_checkpoint_is_refused(ckpt, tmp_path, capsys):
    refused(["evaluate", str(ckpt), "--data", "synth:8", "--n", "4", "--out", str(ckpt)], capsys, ckpt,
            match="is an input")
    cfg = ckpt.parent / "config.json"
    cfg.write_text('{"data": {"source": "synth:8"}}')
    refused(["evaluate", str(ckpt), "--n", "4", "--out", str(cfg)], capsys, cfg, match="not written by animegen")


def test_compare_and_train_outputs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run-1"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1, "train/loss": 1.0}\n')
    mine = tmp_path / "comparison.md"
    mine.write_text("# my notes\n")
    refused(["compare", str(run)], capsys, mine, match="comparison.md")
    assert run_cli(["compare", str(run), "--out", "cmp"], capsys)[0] == 0
    assert run_cli(["compare", str(run), "--out", "cmp"], capsys)[0] == 0  # our own files: replaced
    refused(["compare", str(run), "--out", str(run / "metrics")], capsys, run / "metrics.jsonl")
    afile = tmp_path / "runs-file"
    afile.write_text("x")
    refused(["train", "--model", "vae", "--data", "synth:8", "--out", str(afile), "--dry-run"], capsys, afile,
            match="is a file")


def _png(i: int) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(i)
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_prepare_over_a_dataset_keeps_the_users_files(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"{i}.png").write_bytes(_png(i))
    out = tmp_path / "ds"
    args = ["prepare", str(src), "--size", "16", "--workers", "1", "--no-dedup", "--out", str(out)]
    assert run_cli(args, capsys)[0] == 0
    (out / "NOTES.md").write_text("my notes about this dataset")
    (out / "extra").mkdir()
    (out / "extra" / "keep.png").write_bytes(_png(9))
    (src / "3.png").write_bytes(_png(3))
    assert run_cli(args, capsys)[0] == 0
    assert (out / "NOTES.md").read_text() == "my notes about this dataset"
    assert (out / "extra" / "keep.png").read_bytes() == _png(9)
    from animegen.data.prepared import load_prepared

    assert len(load_prepared(out)) == 4
    assert sorted(p.name for p in out.iterdir()) == ["NOTES.md", "extra", "images.npy", "manifest.json", "rejects.csv"]
    # --preview over a file we did not write, or over the source itself, is refused
    refused(["prepare", str(src), "--size", "16", "--workers", "1", "--preview", str(src / "0.png")], capsys,
            src / "0.png")


def test_weights_file_that_is_a_fifo_is_one_line(tmp_path, capsys):
    import os

    os.mkfifo(tmp_path / "w.pth")
    refused(["fid-ref", "synth:8", "--inception", str(tmp_path / "w.pth")], capsys, match="not a regular file")


def test_checkpoint_that_is_a_fifo_does_not_hang_sample(tmp_path, capsys):
    import os

    os.mkfifo(tmp_path / "x.safetensors")
    refused(["sample", str(tmp_path / "x.safetensors"), "--n", "2", "--out", str(tmp_path / "g.png")], capsys,
            match="not a regular file")
    assert not (tmp_path / "g.png").exists()


def test_synth_over_a_synth_folder_keeps_the_users_files(tmp_path, capsys):
    out = tmp_path / "synth"
    assert run_cli(["synth", "--n", "4", "--size", "32", "--workers", "1", "--out", str(out)], capsys)[0] == 0
    (out / "NOTES.md").write_text("mine")
    assert run_cli(["synth", "--n", "2", "--size", "32", "--workers", "1", "--out", str(out)], capsys)[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["000000.png", "000001.png", "NOTES.md", "labels.csv",
                                                     "manifest.json"]
    Image.new("RGB", (8, 8)).save(out / "000002.png")  # a user's picture under a name synth would write
    refused(["synth", "--n", "3", "--size", "32", "--workers", "1", "--out", str(out)], capsys, out / "000002.png",
            out / "manifest.json", match="000002.png")
    grid = tmp_path / "sheet.png"
    Image.new("RGB", (8, 8)).save(grid)
    refused(["synth", "--n", "3", "--size", "32", "--grid", str(grid)], capsys, grid, match="--grid")
