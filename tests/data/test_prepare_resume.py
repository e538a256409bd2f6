"""A killed ``prepare`` continues where it stopped (animegen.data.prepare_resume) and ends byte-identical."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_prepare import distinct_image, encode, opts

from animegen.data import prepare as prep_mod
from animegen.data.prepare import prepare
from animegen.data.prepare_resume import work_dir


class Killed(BaseException):
    """Stands for SIGKILL: nothing of prepare's own handling runs (it is neither an Exception nor Ctrl-C)."""


def make_source(folder: Path, n: int = 60) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        img = distinct_image(i % 45)  # images 45.. repeat 0..: near-duplicates the index must still know
        (folder / f"img_{i:04d}.png").write_bytes(encode(img))
    (folder / "img_0007b.png").write_bytes(b"not a png")  # a reject
    return folder


def counting(monkeypatch, die_at: int | None = None, exc: type[BaseException] = Killed) -> dict:
    """Count the inputs the collector sees; raise ``exc`` at input ``die_at`` (1-based) of this run."""
    real = prep_mod._Collector.add
    seen = {"n": 0}

    def add(self, res):
        seen["n"] += 1
        if die_at is not None and seen["n"] == die_at:
            raise exc()
        real(self, res)

    monkeypatch.setattr(prep_mod._Collector, "add", add)
    return seen


def dataset_bytes(folder: Path) -> dict:
    m = json.loads((folder / "manifest.json").read_text())
    for k in ("created", "name"):
        m.pop(k)
    m["stats"].pop("seconds")
    return {"images": (folder / "images.npy").read_bytes(), "rejects": (folder / "rejects.csv").read_text(),
            "manifest": m}


@pytest.fixture
def small_checkpoints(monkeypatch):
    monkeypatch.setattr(prep_mod, "CHECKPOINT_EVERY", 8)


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_prepare_continues_from_its_last_checkpoint(tmp_path, monkeypatch, small_checkpoints, workers):
    src = make_source(tmp_path / "src")
    o = opts(val_fraction=0.2, seed=1)
    prepare(str(src), tmp_path / "whole", o, workers=workers, quiet=True)
    reference = dataset_bytes(tmp_path / "whole")

    out = tmp_path / "ds"
    seen = counting(monkeypatch, die_at=30)
    with pytest.raises(Killed):
        prepare(str(src), out, o, workers=workers, quiet=True)
    assert not out.exists() and (work_dir(out) / "journal.json").is_file()
    journal = json.loads((work_dir(out) / "journal.json").read_text())
    assert journal["inputs"] == 24  # the last checkpoint before the kill (every 8 inputs)

    seen = counting(monkeypatch)
    report = prepare(str(src), out, o, workers=workers, quiet=True)
    assert seen["n"] == 61 - 24  # only the inputs after the checkpoint were processed again
    assert report.inputs == 61 and report.count == 45 and sum(report.dropped.values()) == 16
    assert dataset_bytes(out) == reference
    assert not work_dir(out).exists()


def test_ctrl_c_saves_everything_collected(tmp_path, monkeypatch, small_checkpoints):
    src = make_source(tmp_path / "src")
    prepare(str(src), tmp_path / "whole", opts(), workers=1, quiet=True)
    out = tmp_path / "ds"
    counting(monkeypatch, die_at=13, exc=KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        prepare(str(src), out, opts(), workers=1, quiet=True)
    assert json.loads((work_dir(out) / "journal.json").read_text())["inputs"] == 12
    seen = counting(monkeypatch)
    prepare(str(src), out, opts(), workers=1, quiet=True)
    assert seen["n"] == 61 - 12
    assert dataset_bytes(out) == dataset_bytes(tmp_path / "whole")


def test_other_options_or_resume_false_start_over(tmp_path, monkeypatch, small_checkpoints):
    src = make_source(tmp_path / "src")
    out = tmp_path / "ds"
    counting(monkeypatch, die_at=20)
    with pytest.raises(Killed):
        prepare(str(src), out, opts(), workers=1, quiet=True)
    seen = counting(monkeypatch)
    prepare(str(src), out, opts(size=16), workers=1, quiet=True)  # another size: the partial work does not fit
    assert seen["n"] == 61
    assert np.load(out / "images.npy").shape[1:] == (16, 16, 3)

    out2 = tmp_path / "ds2"
    counting(monkeypatch, die_at=20)
    with pytest.raises(Killed):
        prepare(str(src), out2, opts(), workers=1, quiet=True)
    seen = counting(monkeypatch)
    prepare(str(src), out2, opts(), workers=1, quiet=True, resume=False)
    assert seen["n"] == 61
