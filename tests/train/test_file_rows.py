"""Training batches from a memory-mapped dataset: same numbers as in memory, resident memory stays flat."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from animegen.train.data import BatchLoader, FileRows, fixed_batches


def rss_bytes() -> int:
    """File-backed resident memory (RssFile): what a memory-mapped dataset adds (heap noise does not count)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssFile:"):
                return int(line.split()[1]) * 1024
    pytest.skip("no RssFile in /proc/self/status")


@pytest.fixture
def mapped(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (200, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "images.npy", a)
    return a, np.load(tmp_path / "images.npy", mmap_mode="c")


def test_file_rows_read_the_same_rows_as_the_mapping(mapped):
    a, m = mapped
    for view in (m, m[17:], m[3:150:7]):
        rows = FileRows.of(view)
        assert rows is not None
        idx = np.array([0, len(view) - 1, 5, 5, 2])
        got = rows.take(idx)
        assert np.array_equal(got, np.asarray(view)[idx]) and not np.shares_memory(got, m)
    with pytest.raises(IndexError):
        FileRows.of(m).take(np.array([200]))
    assert FileRows.of(a) is None and FileRows.of(m[:, ::-1]) is None  # in memory / rows not contiguous


@pytest.mark.parametrize("channels_last", [False, True])
def test_loader_on_a_mapped_file_gives_the_in_memory_batches(mapped, channels_last):
    a, m = mapped
    idx = np.arange(10, 190)
    kw = dict(batch_size=16, seed=3, hflip=True, channels_last=channels_last)
    mem, disk = BatchLoader(a, idx, **kw), BatchLoader(m, idx, **kw)
    assert mem.rows is None and disk.rows is not None
    for _ in range(15):  # past an epoch boundary
        assert torch.equal(mem.next(), disk.next())
    assert all(torch.equal(x, y) for x, y in zip(fixed_batches(mem, idx[:40], 16), fixed_batches(disk, idx[:40], 16),
                                                  strict=True))


def test_reading_a_large_mapped_file_does_not_grow_resident_memory(tmp_path):
    n = 2500  # 2,500 × 96 × 96 × 3 = 69 MB
    np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.uint8, shape=(n, 96, 96, 3))[:] = 7
    m = np.load(tmp_path / "big.npy", mmap_mode="c")
    loader = BatchLoader(m, np.arange(n), batch_size=250)
    before = rss_bytes()
    for _ in range(n // 250):
        loader.next()
    grown_read = rss_bytes() - before
    before = rss_bytes()
    for i in range(0, n, 250):  # the same rows through the mapping: every page becomes resident
        _ = m[i:i + 250].sum()
    grown_mapped = rss_bytes() - before
    assert grown_mapped > 50e6  # the check can fail: mapped reads do grow the process
    assert grown_read < 20e6
