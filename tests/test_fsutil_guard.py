"""``animegen.fsutil`` guards: outputs never replace an input or a file we did not write; reads are bounded
and never block."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from animegen.errors import AnimegenError
from animegen.fsutil import ReadRefused, atomic_dir, check_dir_output, check_output, read_limited, written_by_us
from animegen.imaging import save_png

pytestmark = pytest.mark.timeout(60)


def test_output_equal_to_an_input_is_refused(tmp_path):
    ck = tmp_path / "final.safetensors"
    ck.write_bytes(b"weights")
    with pytest.raises(AnimegenError, match="is an input"):
        check_output(ck, [ck])
    link = tmp_path / "alias.png"
    link.symlink_to(ck)
    with pytest.raises(AnimegenError, match="is an input"):
        check_output(link, [ck])
    assert ck.read_bytes() == b"weights"


def test_png_output_replaces_only_our_pngs(tmp_path):
    ours = tmp_path / "grid.png"
    save_png(np.zeros((4, 4, 3), np.uint8), ours)
    assert written_by_us(ours)
    assert check_output(ours, ()) == ours  # a PNG we wrote: may be replaced
    theirs = tmp_path / "photo.png"
    from PIL import Image

    Image.new("RGB", (4, 4)).save(theirs)  # a PNG we did not write
    ck = tmp_path / "ck.png"
    ck.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}" + b"\0" * 32)  # a safetensors file under a .png name
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for p in (theirs, ck, notes):
        before = p.read_bytes()
        with pytest.raises(AnimegenError, match="not written by animegen"):
            check_output(p, (), fmt="png")
        assert p.read_bytes() == before


def test_special_files_and_folders_are_refused_as_outputs(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(AnimegenError, match="not a regular file"):
        check_output(tmp_path / "pipe.png", ())
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(AnimegenError, match="is a folder"):
        check_output(tmp_path / "dir.png", ())
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(AnimegenError, match="is a file"):
        check_output(tmp_path / "notes.txt", (), kind="dir")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(AnimegenError, match="broken link"):
        check_output(tmp_path / "dangling.png", ())


def test_json_marker(tmp_path):
    p = tmp_path / "m.json"
    p.write_text(json.dumps({"software": "animegen 0.1", "a": 1}))
    assert check_output(p, ()) == p
    p.write_text(json.dumps({"a": 1}))
    with pytest.raises(AnimegenError):
        check_output(p, ())


def test_dir_outputs_check_each_name(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    (d / "0000.png").write_bytes(b"user")
    with pytest.raises(AnimegenError, match="0000.png"):
        check_dir_output(d, ["0000.png", "0001.png"], fmt="png")
    check_dir_output(d, ["0000.png"], owned={"0000.png"})


def test_atomic_dir_keeps_foreign_files_and_refuses_clashes(tmp_path):
    final = tmp_path / "ds"
    final.mkdir()
    (final / "mine.txt").write_text("keep")
    (final / "old.bin").write_text("ours before")
    with atomic_dir(final, owned=lambda f: {"old.bin"}) as d:
        (d / "new.bin").write_text("ours now")
    assert sorted(p.name for p in final.iterdir()) == ["mine.txt", "new.bin"]
    with pytest.raises(AnimegenError, match="mine.txt"):
        with atomic_dir(final, owned=lambda f: {"new.bin"}) as d:
            (d / "mine.txt").write_text("would overwrite")
    assert (final / "mine.txt").read_text() == "keep"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_read_limited(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"x" * 100)
    assert read_limited(p, 100) == b"x" * 100
    with pytest.raises(ReadRefused) as e:
        read_limited(p, 99)
    assert e.value.reason == "too-large"
    os.mkfifo(tmp_path / "fifo")
    for special in (tmp_path / "fifo", "/dev/zero", tmp_path):
        with pytest.raises(ReadRefused) as e:
            read_limited(special, 10)
        assert e.value.reason == "not-a-file"


def test_output_under_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(AnimegenError, match="is a file, not a folder"):
        check_output(tmp_path / "f" / "sub" / "out.png", ())
