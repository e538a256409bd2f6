"""Hostile and careless inputs to ``prepare``: special files, huge files, odd archives, odd names.

Every case must end as a reject line (or a clear error) while the rest is prepared; none may hang
(``pytest.mark.timeout`` turns a regression into a failure) or read without bound.
"""
from __future__ import annotations

import csv
import io
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegen.data import archives, decode
from animegen.data.decode import Rejected, read_bytes
from animegen.data.pipeline import PrepareOptions
from animegen.data.prepare import prepare
from animegen.data.readers import open_reader

pytestmark = pytest.mark.timeout(60)


def png(i: int) -> bytes:
    rng = np.random.default_rng(i)
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(small).resize((40, 40), Image.Resampling.BICUBIC).save(buf, format="PNG")
    return buf.getvalue()


def good_folder(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"ok_{i}.png").write_bytes(png(i))
    return folder


def run(src, out: Path) -> tuple[int, dict[str, tuple[str, str]]]:
    report = prepare(str(src), out, PrepareOptions(size=16, dedup=False), workers=1, quiet=True)
    with open(out / "rejects.csv", newline="", encoding="utf-8") as fh:
        rows = {r["path"]: (r["reason"], r["detail"]) for r in csv.DictReader(fh)}
    return report.count, rows


# ----------------------------------------------------------------------------- special files


def test_symlink_to_dev_zero_is_a_reject_not_a_12_gb_read(tmp_path):
    src = good_folder(tmp_path / "src")
    os.symlink("/dev/zero", src / "zero.png")
    count, rows = run(src, tmp_path / "out")
    assert count == 3
    assert rows["zero.png"][0] == "not-a-file"


def test_fifo_never_blocks(tmp_path):
    src = good_folder(tmp_path / "src")
    os.mkfifo(tmp_path / "pipe")
    os.symlink(tmp_path / "pipe", src / "linked.png")
    os.mkfifo(src / "direct.png")
    count, rows = run(src, tmp_path / "out")
    assert count == 3
    assert rows["linked.png"][0] == "not-a-file" and rows["direct.png"][0] == "not-a-file"


def test_read_bytes_caps_the_size(tmp_path, monkeypatch):
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 5000)
    monkeypatch.setattr(decode, "MAX_FILE_BYTES", 4096)
    with pytest.raises(Rejected) as e:
        read_bytes(big)
    assert e.value.reason == "too-large"
    with pytest.raises(Rejected) as e:
        read_bytes("/dev/zero")
    assert e.value.reason == "not-a-file"


def test_directory_named_like_an_image_and_broken_link(tmp_path):
    src = good_folder(tmp_path / "src")
    good_folder(src / "album.png", 1)  # a folder named like an image: searched like any folder
    os.symlink(src / "album.png", src / "dirlink.jpg")  # a link to a folder: one reject
    os.symlink(tmp_path / "gone.png", src / "broken.png")
    count, rows = run(src, tmp_path / "out")
    assert count == 4
    assert rows["dirlink.jpg"][0] == "not-a-file"
    assert rows["broken.png"][0] == "unreadable"


def test_non_utf8_name_is_one_reject_line(tmp_path):
    src = good_folder(tmp_path / "src")
    bad = os.fsencode(str(src)) + b"/caf\xe9.png"
    with open(bad, "wb") as fh:
        fh.write(png(9))
    baddir = os.fsencode(str(src)) + b"/d\xff"
    os.mkdir(baddir)
    with open(baddir + b"/inner.png", "wb") as fh:
        fh.write(png(10))
    count, rows = run(src, tmp_path / "out")
    assert count == 3
    assert [r for r in rows.values() if r[0] == "bad-name"] and len(rows) == 2
    for name in rows:  # shown printable: no lone surrogates in the report
        name.encode("utf-8")
    manifest = (tmp_path / "out" / "manifest.json").read_text(encoding="utf-8")
    assert "ok_2.png" in manifest


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_one_reject(tmp_path):
    src = good_folder(tmp_path / "src")
    p = src / "secret.png"
    p.write_bytes(png(5))
    p.chmod(0)
    count, rows = run(src, tmp_path / "out")
    assert count == 3 and rows["secret.png"][0] == "unreadable"


# ----------------------------------------------------------------------------- archives


def test_tar_made_with_dot_is_read(tmp_path):
    src = good_folder(tmp_path / "src")
    tar = tmp_path / "x.tar"
    subprocess.run(["tar", "-cf", str(tar), "-C", str(src), "."], check=True)
    count, rows = run(tar, tmp_path / "out")
    assert count == 3 and rows == {}
    names = [it.name for it in open_reader(str(tar))]
    assert names == ["ok_0.png", "ok_1.png", "ok_2.png"]


def _tar_with_hostile_members(path: Path, mode: str = "w") -> None:
    with tarfile.open(path, mode) as tf:
        for name, data in (("./good/a.png", png(1)), ("../evil.png", png(2)), ("/abs.png", png(3)),
                           ("good/b.png", png(4))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, kind in (("link.png", tarfile.SYMTYPE), ("hard.png", tarfile.LNKTYPE),
                           ("dev.png", tarfile.CHRTYPE), ("fifo.png", tarfile.FIFOTYPE)):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "/etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
            tf.addfile(info)


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_tar_members_dropped_for_safety_are_listed(tmp_path, mode):
    tar = tmp_path / ("x.tar" if mode == "w" else "x.tar.gz")
    _tar_with_hostile_members(tar, mode)
    count, rows = run(tar, tmp_path / "out")
    assert count == 2
    unsafe = {k for k, v in rows.items() if v[0] == "unsafe"}
    assert unsafe == {"../evil.png", "/abs.png", "link.png", "hard.png", "dev.png", "fifo.png"}
    assert all(v[0] == "unsafe" for v in rows.values())


def test_zip_members_dropped_for_safety_are_listed(tmp_path):
    z = tmp_path / "x.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("good/a.png", png(1))
        zf.writestr("../evil.png", png(2))
        zf.writestr("/abs.png", png(3))
        link = zipfile.ZipInfo("link.png")
        link.create_system = 3
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    count, rows = run(z, tmp_path / "out")
    assert count == 1
    assert {k for k, v in rows.items() if v[0] == "unsafe"} == {"../evil.png", "/abs.png", "link.png"}


def test_zip_bomb_member_is_refused_before_reading(tmp_path, monkeypatch):
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok.png", png(1))
        zf.writestr("bomb.png", b"\0" * 200_000)
    monkeypatch.setattr(archives, "MAX_MEMBER_BYTES", 100_000)
    count, rows = run(z, tmp_path / "out")
    assert count == 1 and rows["bomb.png"][0] == "too-large"


def test_non_utf8_tar_member_is_one_reject(tmp_path):
    tar = tmp_path / "x.tar"
    with tarfile.open(tar, "w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tf:
        for name, data in (("ok.png", png(1)), ("caf\xe9.png", png(2))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    count, rows = run(tar, tmp_path / "out")
    assert count == 1 and [v[0] for v in rows.values()] == ["bad-name"]


# ----------------------------------------------------------------------------- other reads


def test_mnist_fifo_and_oversized_idx(tmp_path, monkeypatch):
    from animegen.data import mnist
    from animegen.errors import DataError

    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(DataError, match="not a regular file"):
        mnist.read_idx(tmp_path / "pipe")
    big = tmp_path / "train-images-idx3-ubyte"
    big.write_bytes(bytes([0, 0, 8, 3]) + (1000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\0" * 784_000)
    monkeypatch.setattr(mnist, "MAX_IDX_BYTES", 100_000)
    with pytest.raises(DataError, match="too large"):
        mnist.read_idx(big)


def test_manifest_that_is_a_fifo_does_not_hang(tmp_path):
    from animegen.data.prepared import read_manifest
    from animegen.errors import DataError

    os.mkfifo(tmp_path / "manifest.json")
    with pytest.raises(DataError):
        read_manifest(tmp_path)


def test_checkpoint_that_is_a_fifo_does_not_hang(tmp_path):
    from animegen.checkpoint import read_header
    from animegen.errors import CheckpointError

    os.mkfifo(tmp_path / "x.safetensors")
    with pytest.raises(CheckpointError, match="not a regular file"):
        read_header(tmp_path / "x.safetensors")


def test_source_that_is_a_fifo_or_device_is_one_error(tmp_path):
    from animegen.errors import DataError

    os.mkfifo(tmp_path / "x.tar")
    for spec in (tmp_path / "x.tar", "/dev/zero"):
        with pytest.raises(DataError, match="not a regular file"):
            open_reader(str(spec))
