from __future__ import annotations

from pathlib import Path

import pytest
from studio_fixtures import make_run

from animegen.errors import AnimegenError, CheckpointError
from animegen.studio.catalog import BUNDLED_LABEL, MAX_DEPTH, UnknownCheckpoint, bundled_checkpoint, scan


def test_no_target_offers_the_bundled_model_only():
    cat = scan(None)
    assert cat.labels == [BUNDLED_LABEL] and cat.default == BUNDLED_LABEL
    assert cat.path(BUNDLED_LABEL) == bundled_checkpoint() and bundled_checkpoint().stat().st_size > 100_000


def test_folder_of_runs_lists_each_run_and_opens_the_first(tmp_path):
    make_run(tmp_path / "b-run")
    make_run(tmp_path / "sweep" / "a-run", name="last.safetensors")
    (tmp_path / "sweep" / "a-run" / "samples").mkdir()
    (tmp_path / "empty").mkdir()
    cat = scan(tmp_path)
    assert cat.labels == ["b-run", "sweep/a-run", BUNDLED_LABEL]
    assert cat.default == "b-run"
    assert cat.path("sweep/a-run") == (tmp_path / "sweep" / "a-run" / "last.safetensors").resolve()


def test_runs_too_deep_or_behind_links_are_not_listed(tmp_path):
    deep = tmp_path.joinpath(*[f"d{i}" for i in range(MAX_DEPTH + 1)])
    make_run(deep)
    other = make_run(tmp_path.parent / f"{tmp_path.name}-outside")
    (tmp_path / "link").symlink_to(other, target_is_directory=True)
    cat = scan(tmp_path)
    assert cat.labels == [BUNDLED_LABEL]
    assert any("no runs" in n for n in cat.notes)


def test_run_folder_and_checkpoint_file(tmp_path):
    run = make_run(tmp_path / "vae-1")
    assert scan(run).default == "vae-1"
    assert scan(run / "final.safetensors").labels == ["final.safetensors", BUNDLED_LABEL]


@pytest.mark.parametrize("bad", ["../final.safetensors", "/etc/passwd", None, 3, ["vae-1"], "vae-1/"])
def test_only_listed_labels_resolve(tmp_path, bad):
    cat = scan(make_run(tmp_path / "vae-1"))
    with pytest.raises(UnknownCheckpoint):
        cat.path(bad)


def test_bad_targets_are_one_line_errors(tmp_path):
    with pytest.raises(AnimegenError, match="no such"):
        scan(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        scan(tmp_path / "notes.txt")
    assert isinstance(Path(bundled_checkpoint()), Path)
