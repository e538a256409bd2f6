"""MNIST IDX reader: the real files in ../shared/data/mnist, and hand-made broken ones."""
from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest

from animegen.data.mnist import IMAGES_MAGIC, LABELS_MAGIC, open_mnist, read_idx, read_mnist
from animegen.data.pipeline import PrepareOptions
from animegen.data.prepare import prepare
from animegen.data.prepared import load_prepared
from animegen.data.sources import open_source
from animegen.errors import DataError


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    magic = magic if magic is not None else (0x0800 | arr.ndim)
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.astype(np.uint8).tobytes()


def write_split(folder, prefix: str, images: np.ndarray, labels: np.ndarray, gz: bool = True, sep: str = "-") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for kind, arr, nd in (("images", images, 3), ("labels", labels, 1)):
        data = idx_bytes(arr)
        name = f"{prefix}-{kind}{sep}idx{nd}-ubyte" + (".gz" if gz else "")
        (folder / name).write_bytes(gzip.compress(data) if gz else data)


# ----------------------------------------------------------------------------- real data


def test_real_mnist_shapes_labels_and_counts(mnist_dir):
    for split in ("train", "test"):
        images, labels, files = read_mnist(mnist_dir, split)
        assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (10_000,) and labels.min() == 0 and labels.max() == 9
        assert len(np.unique(labels)) == 10 and np.bincount(labels).min() > 800
        assert 20 < images.mean() < 50  # mostly black background, white strokes
    test = open_source(f"mnist:{mnist_dir}:test")
    train = open_mnist(str(mnist_dir))
    assert test.images.shape == (10_000, 28, 28, 1) and test.channels == 1 and test.size == 28
    assert set(test.labels) == {"digit"} and test.labels["digit"].shape == (10_000,)
    assert test.fingerprint != train.fingerprint
    assert open_mnist(f"{mnist_dir}:train").fingerprint == train.fingerprint
    # the official t10k set starts with a 7, 2, 1, 0, 4
    assert test.labels["digit"][:5].tolist() == [7, 2, 1, 0, 4]


def test_prepare_from_mnist_keeps_labels(mnist_dir, tmp_path):
    opts = PrepareOptions(size=28, channels=1, dedup=False, limit=300, val_fraction=0.1)
    rep = prepare(f"mnist:{mnist_dir}:test", tmp_path / "m28", opts, workers=1, quiet=True)
    assert rep.count == 300
    ds = load_prepared(tmp_path / "m28")
    ref = open_mnist(f"{mnist_dir}:test")
    assert ds.images.shape == (300, 28, 28, 1)
    assert np.array_equal(ds.images, ref.images[:300])  # 28 → 28: untouched pixels
    assert np.array_equal(ds.labels["digit"], ref.labels["digit"][:300])
    assert ds.val_mask.sum() == 30
    m = json.loads((tmp_path / "m28" / "manifest.json").read_text())
    assert m["files"][0]["source"] == "t10k-images-idx3-ubyte.gz#0" and m["labels"] == ["digit"]


# ----------------------------------------------------------------------------- hand-made files


def test_reader_variants_gz_plain_and_dot_names(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labs = rng.integers(0, 10, 7, dtype=np.uint8)
    write_split(tmp_path / "a", "train", imgs, labs, gz=True)
    write_split(tmp_path / "b", "t10k", imgs, labs, gz=False, sep=".")
    a = open_mnist(str(tmp_path / "a"))
    b = open_mnist(f"{tmp_path / 'b'}:test")
    assert np.array_equal(a.images[..., 0], imgs) and np.array_equal(b.labels["digit"], labs)
    assert a.fingerprint == b.fingerprint


def test_bad_idx_files_give_clear_errors(tmp_path):
    imgs = np.zeros((3, 28, 28), np.uint8)
    labs = np.array([1, 2, 3], np.uint8)
    with pytest.raises(DataError, match="MNIST folder not found"):
        open_mnist(str(tmp_path / "none"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="images file not found"):
        open_mnist(str(tmp_path / "empty"))
    # wrong magic (e.g. a text file)
    bad = tmp_path / "bad"
    write_split(bad, "train", imgs, labs, gz=False)
    (bad / "train-images-idx3-ubyte").write_bytes(b"hello world, not IDX")
    with pytest.raises(DataError, match="not an unsigned-byte IDX file"):
        open_mnist(str(bad))
    # images and labels swapped
    (bad / "train-images-idx3-ubyte").write_bytes(idx_bytes(labs))
    with pytest.raises(DataError, match="swapped"):
        open_mnist(str(bad))
    # truncated data
    (bad / "train-images-idx3-ubyte").write_bytes(idx_bytes(imgs)[:-10])
    with pytest.raises(DataError, match="truncated or corrupt"):
        open_mnist(str(bad))
    # count mismatch
    (bad / "train-images-idx3-ubyte").write_bytes(idx_bytes(imgs[:2]))
    with pytest.raises(DataError, match="2 images but .* 3 labels"):
        open_mnist(str(bad))
    # broken gzip
    (bad / "train-images-idx3-ubyte").unlink()
    (bad / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(imgs))[:30])
    with pytest.raises(DataError, match="cannot read"):
        open_mnist(str(bad))
    assert read_idx(_write(tmp_path / "ok", idx_bytes(labs)), LABELS_MAGIC).tolist() == [1, 2, 3]
    with pytest.raises(DataError, match="only 2 bytes"):
        read_idx(_write(tmp_path / "short", b"\0\0"), IMAGES_MAGIC)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
