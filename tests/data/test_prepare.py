"""`animegen prepare`: bad inputs, conversions, sources, determinism, atomicity, manifest, cache, CLI."""
from __future__ import annotations

import csv
import io
import json
import os
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegen.data.decode import Rejected, open_image, pixel_limit, to_rgb
from animegen.data.pipeline import PrepareOptions
from animegen.data.prepare import PrepareReport, cache_dir, open_or_prepare, prepare
from animegen.data.prepared import load_prepared
from animegen.data.sources import open_source
from animegen.errors import DataError

# ----------------------------------------------------------------------------- helpers


def distinct_image(i: int, size: int = 80) -> np.ndarray:
    """Smooth random colour fields: JPEG-friendly and far apart in dHash."""
    rng = np.random.default_rng(1000 + i)
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC))


def encode(a: np.ndarray | Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    (a if isinstance(a, Image.Image) else Image.fromarray(a)).save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_bomb(w: int = 100_000, h: int = 100_000) -> bytes:
    """A tiny PNG whose header claims w×h pixels (a decompression bomb)."""
    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (w + 1) * 4))
            + chunk(b"IEND", b""))


def make_good(folder: Path, n: int, start: int = 0, fmt: str = "PNG", ext: str = "png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + n):
        p = folder / f"img_{i:04d}.{ext}"
        p.write_bytes(encode(distinct_image(i), fmt))
        paths.append(p)
    return paths


def read_rejects(out: Path) -> list[dict]:
    with open(out / "rejects.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def opts(**kw) -> PrepareOptions:
    kw.setdefault("size", 32)
    return PrepareOptions(**kw)


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_are_skipped_counted_and_listed(tmp_path):
    src = tmp_path / "src"
    make_good(src, 5)
    make_good(src / "sub" / "deeper", 2, start=5, fmt="JPEG", ext="jpg")
    good_jpeg = encode(distinct_image(50), "JPEG")
    (src / "zero.jpg").write_bytes(b"")
    (src / "trunc.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    good_png = encode(distinct_image(51))
    (src / "trunc.png").write_bytes(good_png[: len(good_png) // 2])
    (src / "notes.jpg").write_text("this is not an image\n")
    (src / "bomb.png").write_bytes(png_bomb())
    (src / "tiny.png").write_bytes(encode(distinct_image(52, size=8)))
    (src / "dangling.png").symlink_to(tmp_path / "does-not-exist.png")
    frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    (src / "anim.gif").write_bytes(buf.getvalue())
    (src / "zz_dup.png").write_bytes(encode(distinct_image(0)))  # same picture as img_0000.png
    (src / "README.txt").write_text("ignored: not an image extension")
    os.mkfifo(src / "pipe.png")  # not a regular file: listed, never opened for a blocking read
    (src / ".hidden.png").write_bytes(b"")
    unreadable = src / "locked.png"
    unreadable.write_bytes(encode(distinct_image(53)))
    unreadable.chmod(0)
    as_root = os.geteuid() == 0  # root reads mode-000 files; then locked.png is simply kept

    out = tmp_path / "ds"
    report = prepare(str(src), out, opts(), workers=1, quiet=True)
    unreadable.chmod(0o644)

    reasons = {r["path"]: r["reason"] for r in read_rejects(out)}
    assert reasons["zero.jpg"] == "empty-file"
    assert reasons["trunc.jpg"] == "truncated"
    assert reasons["trunc.png"] == "truncated"
    assert reasons["notes.jpg"] == "not-an-image"
    assert reasons["bomb.png"] == "too-large"
    assert reasons["tiny.png"] == "too-small"
    assert reasons["dangling.png"] == "unreadable"
    assert reasons["zz_dup.png"] == "duplicate"
    assert reasons["pipe.png"] == "not-a-file"
    if not as_root:
        assert reasons["locked.png"] == "unreadable"
    kept = 7 + 1 + (1 if as_root else 0)  # good ones, the GIF's first frame, maybe locked.png
    assert report.count == kept
    m = json.loads((out / "manifest.json").read_text())
    assert m["count"] == kept == len(m["files"])
    assert m["stats"]["ignored_files"] == 1  # README.txt
    assert m["stats"]["notes"] == {"animated": 1}
    summary = report.summary()
    assert summary.startswith(f"kept {kept} of {kept + len(reasons)} images (dropped: ")
    for reason in ("empty-file", "truncated", "not-an-image", "too-large", "too-small", "duplicate"):
        assert reason in summary
    assert "2 truncated" in summary and str(out) in summary
    # the animated GIF contributes its first (red) frame
    ds = load_prepared(out)
    i = [f["source"] for f in m["files"]].index("anim.gif")
    assert ds.images[i, ..., 0].min() > 240 and ds.images[i, ..., 1].max() < 15
    assert [f["source"] for f in m["files"]][:2] == ["anim.gif", "img_0000.png"]  # sorted path order


def test_empty_and_missing_sources_are_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        prepare(str(tmp_path / "nope"), tmp_path / "out", opts(), quiet=True)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="no image files"):
        prepare(str(tmp_path / "empty"), tmp_path / "out", opts(), quiet=True)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"")
    (bad / "b.png").write_text("nope")
    with pytest.raises(DataError, match="no images kept.*empty-file"):
        prepare(str(bad), tmp_path / "out", opts(), workers=1, quiet=True)
    assert not (tmp_path / "out").exists()


def test_refuses_to_replace_a_folder_that_is_not_a_dataset(tmp_path):
    make_good(tmp_path / "src", 3)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    with pytest.raises(DataError, match="not a prepared dataset"):
        prepare(str(tmp_path / "src"), other, opts(), workers=1, quiet=True)
    assert (other / "precious.txt").read_text() == "keep me"
    # a prepared dataset is replaced atomically
    out = tmp_path / "ds"
    prepare(str(tmp_path / "src"), out, opts(), workers=1, quiet=True)
    make_good(tmp_path / "src", 1, start=3)
    assert prepare(str(tmp_path / "src"), out, opts(), workers=1, quiet=True).count == 4
    assert load_prepared(out).images.shape[0] == 4


# ----------------------------------------------------------------------------- conversions


def _decode(data: bytes) -> Image.Image:
    with pixel_limit(10**8):
        im, _, _ = open_image(data)
    return to_rgb(im)


def test_conversions_to_rgb():
    # RGBA: transparent → white, opaque kept
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:4, ..., 3] = 255
    out = np.asarray(_decode(encode(rgba)))
    assert out.shape == (8, 8, 3)
    assert (out[:4] == (200, 0, 0)).all() and (out[4:] == 255).all()
    # LA half transparent gray 0 → composited to ~128
    la = Image.merge("LA", [Image.new("L", (8, 8), 0), Image.new("L", (8, 8), 128)])
    assert abs(int(np.asarray(_decode(encode(la)))[0, 0, 0]) - 127) <= 1
    # palette with a transparent index
    p = Image.new("P", (8, 8), 1)
    p.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    p.paste(0, (0, 0, 4, 8))
    out = np.asarray(_decode(encode(p, transparency=0)))
    assert (out[:, :4] == 255).all() and (out[:, 4:] == (10, 20, 30)).all()
    # CMYK JPEG → RGB
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red
    out = np.asarray(_decode(encode(cmyk, "JPEG", quality=95)))
    assert out.shape == (16, 16, 3) and out[..., 0].mean() > 200 and out[..., 1].mean() < 60
    # 16-bit gray: 65535 → 255, 32896 → 128 (scaled, not clipped)
    g16 = np.array([[0, 32896], [65535, 257]], np.uint16)
    out = np.asarray(_decode(encode(Image.fromarray(g16))))[..., 0]
    assert out.tolist() == [[0, 128], [255, 1]]
    # 32-bit float in [0, 1]
    f = Image.fromarray(np.array([[0.0, 0.5], [1.0, 0.25]], np.float32))
    assert f.mode == "F"
    out = np.asarray(_decode(encode(f, "TIFF")))[..., 0]
    assert out.tolist() == [[0, 128], [255, 64]]
    # 1-bit and L
    assert np.asarray(_decode(encode(Image.new("1", (4, 4), 1)))).min() == 255
    assert _decode(encode(Image.new("L", (4, 4), 7))).getpixel((0, 0)) == (7, 7, 7)


def test_pixel_limit_refuses_big_images_from_the_header():
    data = encode(np.zeros((40, 40, 3), np.uint8))  # 1,600 pixels
    for limit in (1000, 1500):  # Pillow warns above the limit and errors above twice it: both refused
        with pixel_limit(limit), pytest.raises(Rejected, match="too-large"):
            open_image(data, max_pixels=limit)
    with pixel_limit(2000):
        assert open_image(data, max_pixels=2000)[0].size == (40, 40)
    with pixel_limit(10**8), pytest.raises(Rejected, match="too-large"):
        open_image(png_bomb(), max_pixels=10**8)


def test_exif_orientation_is_applied():
    a = np.zeros((20, 40, 3), np.uint8)  # wide image, left half white
    a[:, :20] = 255
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    out = np.asarray(_decode(encode(im, "JPEG", exif=exif, quality=95)))
    assert out.shape == (40, 20, 3)
    assert out[:20].mean() > 200 and out[20:].mean() < 50  # left half became the top half


def test_channels_1_and_crop_none_centre_square(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    a = np.zeros((60, 120, 3), np.uint8)
    a[:, 30:90] = (255, 0, 0)  # the centre square is pure red
    (src / "wide.png").write_bytes(encode(a))
    rep = prepare(str(src), tmp_path / "ds", opts(channels=1, size=16, dedup=False), workers=1, quiet=True)
    ds = load_prepared(tmp_path / "ds")
    assert rep.count == 1 and ds.images.shape == (1, 16, 16, 1)
    assert abs(int(ds.images[0, 8, 8, 0]) - 76) <= 1  # luma of pure red
    m = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert m["files"][0]["box"] == [30, 0, 90, 60]


# ----------------------------------------------------------------------------- sources


def test_zip_tar_and_folder_give_the_same_dataset(tmp_path):
    src = tmp_path / "src"
    make_good(src / "a", 4)
    make_good(src / "b", 4, start=4, fmt="JPEG", ext="jpg")
    files = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
    with zipfile.ZipFile(tmp_path / "src.zip", "w") as zf:
        for f in reversed(files):  # stored out of order: the reader sorts
            zf.write(src / f, f)
        zf.writestr("__MACOSX/._junk.png", b"junk")
    for name, mode in (("src.tar", "w"), ("src.tar.gz", "w:gz")):
        with tarfile.open(tmp_path / name, mode) as tf:
            for f in files if mode == "w:gz" else reversed(files):  # plain tars are read in sorted order
                tf.add(src / f, f)
    fps = {}
    for spec in (src, tmp_path / "src.zip", tmp_path / "src.tar", tmp_path / "src.tar.gz"):
        rep = prepare(str(spec), tmp_path / f"out-{Path(spec).name}", opts(), workers=1, quiet=True)
        assert rep.count == 8, spec
        fps[Path(spec).name] = rep.fingerprint
    assert len(set(fps.values())) == 1, fps


@pytest.mark.parametrize("mode,ext", [("w:gz", "tar.gz"), ("w", "tar")])
def test_truncated_tar_keeps_what_was_read(tmp_path, mode, ext):
    src = tmp_path / "src"
    make_good(src, 120)
    with tarfile.open(tmp_path / f"full.{ext}", mode) as tf:
        for p in sorted(src.iterdir()):
            tf.add(p, p.name)
    data = (tmp_path / f"full.{ext}").read_bytes()
    (tmp_path / f"cut.{ext}").write_bytes(data[: len(data) * 2 // 3])
    rep = prepare(str(tmp_path / f"cut.{ext}"), tmp_path / "ds", opts(), workers=1, quiet=True)
    assert 40 < rep.count < 120
    assert rep.dropped == {"truncated": 1}
    # through the worker pool too (the reject travels to a worker and back)
    rep2 = prepare(str(tmp_path / f"cut.{ext}"), tmp_path / "ds2", opts(), workers=2, quiet=True)
    assert rep2.dropped == {"truncated": 1} and rep2.fingerprint == rep.fingerprint


def test_hf_local_imagefolder_offline(tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    make_good(tmp_path / "hf" / "train", 6)
    rep = prepare(f"hf:{tmp_path / 'hf'}", tmp_path / "ds", opts(), workers=1, quiet=True)
    assert rep.count == 6
    m = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert m["source"]["kind"] == "hf"
    assert m["files"][0]["source"] == "train/img_0000.png"
    with pytest.raises(DataError, match="cannot load Hugging Face dataset"):
        prepare("hf:no-such-user/no-such-dataset-xyz", tmp_path / "ds2", opts(), workers=1, quiet=True)


# ----------------------------------------------------------------------------- determinism, split, atomicity


def test_fingerprint_is_deterministic_across_runs_and_worker_counts(tmp_path):
    src = tmp_path / "src"
    make_good(src, 150, fmt="JPEG", ext="jpg")
    (src / "bad.jpg").write_bytes(b"garbage")
    o = opts(val_fraction=0.1, seed=3)
    r1 = prepare(str(src), tmp_path / "a", o, workers=2, quiet=True)
    r2 = prepare(str(src), tmp_path / "b", o, workers=2, quiet=True)
    r3 = prepare(str(src), tmp_path / "c", o, workers=1, quiet=True)
    assert r1.fingerprint == r2.fingerprint == r3.fingerprint
    assert r1.count == 150
    splits = [json.loads((tmp_path / d / "manifest.json").read_text())["split"] for d in "abc"]
    assert splits[0] == splits[1] == splits[2]
    assert len(splits[0]["val"]) == 15 and len(splits[0]["train"]) == 135
    ds = load_prepared(tmp_path / "a")
    assert ds.val_mask.sum() == 15 and ds.fingerprint == r1.fingerprint
    assert load_prepared(tmp_path / "a", verify=True).fingerprint == r1.fingerprint


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_crash_or_ctrl_c_leaves_no_dataset(tmp_path, monkeypatch, exc):
    src = tmp_path / "src"
    make_good(src, 100)  # more than one task's worth, so the worker pool runs
    out = tmp_path / "out" / "ds"
    from animegen.data import prepare as prep_mod

    real_add = prep_mod._Collector.add
    calls = {"n": 0}

    def boom(self, res):
        calls["n"] += 1
        if calls["n"] == 70:
            raise exc("simulated")
        real_add(self, res)

    monkeypatch.setattr(prep_mod._Collector, "add", boom)
    with pytest.raises(exc):
        prepare(str(src), out, opts(), workers=2, quiet=True)
    assert not out.exists()
    # only the hidden work folder of the resumable prepare is left (animegen.data.prepare_resume)
    assert [p.name for p in (tmp_path / "out").iterdir()] == [".ds.prepare-partial"]
    monkeypatch.setattr(prep_mod._Collector, "add", real_add)
    prepare(str(src), out, opts(), workers=2, quiet=True)
    assert load_prepared(out).images.shape[0] == 100
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["ds"]


def test_load_prepared_errors(tmp_path):
    make_good(tmp_path / "src", 4)
    out = tmp_path / "ds"
    prepare(str(tmp_path / "src"), out, opts(), workers=1, quiet=True)
    assert open_source(str(out)).images.shape == (4, 32, 32, 3)
    with pytest.raises(DataError, match="not found"):
        load_prepared(tmp_path / "missing")
    m = (out / "manifest.json").read_text()
    (out / "manifest.json").write_text(m[:50])
    with pytest.raises(DataError, match="corrupt"):
        load_prepared(out)
    (out / "manifest.json").write_text(m)
    data = (out / "images.npy").read_bytes()
    (out / "images.npy").write_bytes(data[: len(data) - 100])
    with pytest.raises(DataError, match="corrupt or truncated"):
        load_prepared(out)
    (out / "images.npy").unlink()
    with pytest.raises(DataError, match="images.npy is missing"):
        load_prepared(out)
    np.save(out / "images.npy", np.zeros((3, 32, 32, 3), np.uint8))
    with pytest.raises(DataError, match="inconsistent"):
        load_prepared(out)
    (out / "manifest.json").unlink()
    with pytest.raises(DataError, match="manifest.json is missing"):
        load_prepared(out)


# ----------------------------------------------------------------------------- cache, preview, CLI


def test_open_or_prepare_caches_and_notices_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMEGEN_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "faces"
    make_good(src, 5)
    ds = open_source(str(src), size=32, quiet=True)
    assert ds.images.shape == (5, 32, 32, 3) and ds.name == "faces"
    entries = list(cache_dir().iterdir())
    assert len(entries) == 1 and (entries[0] / "manifest.json").is_file()
    from animegen.data import prepare as prep_mod

    def fail(*a, **k):
        raise AssertionError("should have used the cache")

    monkeypatch.setattr(prep_mod, "prepare", fail)
    assert open_or_prepare(str(src), size=32, quiet=True).fingerprint == ds.fingerprint
    monkeypatch.undo()
    monkeypatch.setenv("ANIMEGEN_CACHE", str(tmp_path / "cache"))
    make_good(src, 1, start=5)  # the listing changed → a new cache entry
    assert open_or_prepare(str(src), size=32, quiet=True).images.shape[0] == 6
    assert len(list(cache_dir().iterdir())) == 2


def test_preview_dry_run_with_limit(tmp_path):
    src = tmp_path / "src"
    make_good(src, 12)
    (src / "zz_bad.png").write_text("nope")
    (src / "img_dup.png").write_bytes(encode(distinct_image(0)))
    png = tmp_path / "preview.png"
    rep = prepare(str(src), None, opts(), workers=1, preview=png, quiet=True)
    assert rep.out is None and "dry run" in rep.summary()
    im = Image.open(png)
    assert im.width > 8 * 32 and im.height >= 4 * 32  # 2 kept rows + duplicate + not-an-image
    rep = prepare(str(src), None, opts(limit=5), workers=1, preview=png, quiet=True)
    assert rep.inputs == 5


def run_cli(args: list[str]) -> int:
    from animegen.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(args)
    return e.value.code


def test_cli_exit_codes_and_summary(tmp_path, capsys):
    make_good(tmp_path / "src", 3)
    (tmp_path / "src" / "bad.jpg").write_bytes(b"")
    assert run_cli(["prepare", str(tmp_path / "src"), "--size", "32", "--out", str(tmp_path / "ds"), "-j", "1"]) == 0
    err = capsys.readouterr()
    assert "kept 3 of 4 images (dropped: 1 empty-file)" in err.out + err.err
    assert run_cli(["prepare", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) != 0
    assert "error: source not found" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"")
    assert run_cli(["prepare", str(tmp_path / "bad"), "--out", str(tmp_path / "y"), "-j", "1"]) != 0
    assert "error: no images kept" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()


def test_report_summary_format():
    rep = PrepareReport("DIR", 16052, 16060, 16052,
                        {"duplicate": 1, "truncated": 3, "not-an-image": 2, "too-small": 2}, "none")
    assert rep.summary() == ("kept 16,052 of 16,060 images "
                             "(dropped: 3 truncated, 2 not-an-image, 2 too-small, 1 duplicate) → DIR")


# ----------------------------------------------------------------------------- real data


def test_real_faces_from_the_shared_tar(anime_faces_tar, tmp_path):
    rep = prepare(str(anime_faces_tar), tmp_path / "ds", opts(size=64, limit=400), workers=2, quiet=True)
    ds = load_prepared(tmp_path / "ds")
    assert rep.inputs == 400 and ds.images.shape == (rep.count, 64, 64, 3)
    assert rep.count + rep.dropped.get("duplicate", 0) == 400  # all decode; the set has exact duplicates
    assert ds.images.std() > 40
