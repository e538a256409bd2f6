"""MNIST from its IDX files (``train-images-idx3-ubyte[.gz]`` etc.), no torchvision.

``mnist:DIR`` is the training split, ``mnist:DIR:test`` the t10k split. Images come out as uint8
``[N, 28, 28, 1]`` with ``labels={"digit": uint8 [N]}``.

IDX format (LeCun et al.): a 4-byte magic ``0x00 0x00 <type> <ndim>`` (type 0x08 = unsigned byte),
then ``ndim`` big-endian uint32 sizes, then the data.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from pathlib import Path

import numpy as np

from animegen.data.imageset import ImageSet
from animegen.errors import DataError

SPLITS = {"train": "train", "test": "t10k", "t10k": "t10k"}
IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension
MAX_IDX_BYTES = 256 * 2**20
"""IDX files (after gunzip) bigger than this are refused: the 60,000 training images are 47 MB."""


def parse_mnist_spec(rest: str) -> tuple[Path, str]:
    """``"DIR"`` / ``"DIR:test"`` / ``"DIR:train"`` → ``(DIR, split)``."""
    rest = rest.strip()
    root, split = rest, "train"
    head, sep, tail = rest.rpartition(":")
    if sep and tail in SPLITS:
        root, split = head, tail
    if not root:
        raise DataError("mnist: needs a folder with the IDX files, e.g. mnist:~/data/mnist or mnist:~/data/mnist:test")
    return Path(root).expanduser(), SPLITS[split]


def _find(root: Path, prefix: str, kind: str) -> Path:
    """``prefix-kind-idxN-ubyte`` with ``-``/``.`` before ``idx`` and optional ``.gz``."""
    ndim = 3 if kind == "images" else 1
    for sep in ("-", "."):
        for gz in (".gz", ""):
            p = root / f"{prefix}-{kind}{sep}idx{ndim}-ubyte{gz}"
            if p.is_file():
                return p
    raise DataError(f"MNIST {kind} file not found in {root}: expected {prefix}-{kind}-idx{ndim}-ubyte(.gz)")


def read_idx(path: str | Path, expect_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a numpy array, validating magic number and length."""
    from animegen.fsutil import ReadRefused, read_limited

    path = Path(path)
    try:
        raw = read_limited(path, MAX_IDX_BYTES)
        if raw[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:  # bounded: a gzip bomb stops at the cap
                raw = gz.read(MAX_IDX_BYTES + 1)
            if len(raw) > MAX_IDX_BYTES:
                raise ReadRefused("too-large", f"{path} is too large (more than {MAX_IDX_BYTES:,} bytes unpacked)")
    except ReadRefused as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if len(raw) < 4:
        raise DataError(f"{path} is not an IDX file: only {len(raw)} bytes")
    magic = int.from_bytes(raw[:4], "big")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
        raise DataError(
            f"{path} is not an unsigned-byte IDX file (magic 0x{magic:08x}; "
            f"expected 0x{expect_magic or IMAGES_MAGIC:08x})"
        )
    if expect_magic is not None and magic != expect_magic:
        raise DataError(
            f"{path} has IDX magic 0x{magic:08x} but 0x{expect_magic:08x} was expected "
            f"({'images' if expect_magic == IMAGES_MAGIC else 'labels'} file): swapped files?"
        )
    ndim = raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise DataError(f"{path}: IDX header cut short")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    need = int(np.prod(dims))
    if len(raw) - head != need:
        raise DataError(
            f"{path}: header says {dims} = {need:,} bytes of data but the file holds {len(raw) - head:,}"
            " (truncated or corrupt download?)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(dims)


def read_mnist(root: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(images uint8 [N, 28, 28], labels uint8 [N], [images_path, labels_path])``."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"MNIST folder not found: {root}")
    prefix = SPLITS.get(split, split)
    ip, lp = _find(root, prefix, "images"), _find(root, prefix, "labels")
    images = read_idx(ip, IMAGES_MAGIC)
    labels = read_idx(lp, LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{ip.name} holds {images.shape[0]:,} images but {lp.name} {labels.shape[0]:,} labels")
    if images.shape[0] == 0:
        raise DataError(f"{ip} holds no images")
    if labels.size and labels.max() > 9:
        raise DataError(f"{lp} has labels up to {labels.max()}; MNIST digits are 0-9")
    return images, labels, [str(ip), str(lp)]


def open_mnist(rest: str) -> ImageSet:
    """The ``mnist:`` source: ``rest`` is ``DIR``, ``DIR:train`` or ``DIR:test``."""
    root, split = parse_mnist_spec(rest)
    images, labels, files = read_mnist(root, split)
    arr = np.ascontiguousarray(images[..., None])  # [N, 28, 28, 1]
    fp = hashlib.sha256(arr.tobytes()).hexdigest()
    name = f"mnist-{'test' if split == 't10k' else 'train'}"
    return ImageSet(
        arr, name, fp, labels={"digit": labels.copy()}, meta={"source": f"mnist:{root}", "split": split, "files": files}
    )
