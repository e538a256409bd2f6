"""animegen.train.data: in-memory batches, deterministic resumable order, flips, shards, split."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from animegen.errors import DataError
from animegen.imaging import to_tensor
from animegen.train.data import BatchLoader, fixed_batches, split_indices


def _images(n=20, size=8, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, c), dtype=np.uint8)


def test_batch_is_float_nchw_in_range_and_matches_to_tensor():
    imgs = _images()
    loader = BatchLoader(imgs, np.arange(20), batch_size=6, seed=1)
    idx, flips = loader.next_indices()
    assert not flips.any()
    batch = loader.gather(idx)
    assert batch.shape == (6, 3, 8, 8) and batch.dtype == torch.float32
    assert batch.min() >= -1 and batch.max() <= 1
    assert torch.equal(batch, to_tensor(imgs[idx]))


def test_epoch_is_a_seeded_permutation_and_the_stream_spans_epochs():
    train = np.arange(3, 20)  # 17 training images
    a = BatchLoader(_images(), train, batch_size=5, seed=7)
    seen = np.concatenate([a.next_indices()[0] for _ in range(17)])  # 85 images = 5 epochs, nothing dropped
    for e in range(5):
        assert sorted(seen[17 * e:17 * (e + 1)].tolist()) == train.tolist()
        assert np.array_equal(seen[17 * e:17 * (e + 1)], a.epoch_order(e)[0])
    assert a.state.epoch == 5 and a.state.position == 0
    b = BatchLoader(_images(), train, batch_size=5, seed=7)
    c = BatchLoader(_images(), train, batch_size=5, seed=8)
    assert np.array_equal(b.epoch_order(0)[0], a.epoch_order(0)[0])
    assert not np.array_equal(c.epoch_order(0)[0], a.epoch_order(0)[0])
    assert not np.array_equal(a.epoch_order(0)[0], a.epoch_order(1)[0])


def test_saved_state_continues_the_exact_order():
    imgs = _images()
    a = BatchLoader(imgs, np.arange(20), batch_size=6, seed=3, hflip=True)
    for _ in range(5):
        a.next()
    state = a.state_dict()
    expected = [a.next() for _ in range(6)]
    b = BatchLoader(imgs, np.arange(20), batch_size=6, seed=3, hflip=True)
    b.load_state_dict(state)
    for want in expected:
        assert torch.equal(b.next(), want)


def test_hflip_mirrors_some_images_deterministically():
    imgs = _images(n=64)
    loader = BatchLoader(imgs, np.arange(64), batch_size=64, seed=0, hflip=True)
    order, flips = loader.epoch_order(0)
    assert 10 < flips.sum() < 54
    batch = loader.next()
    plain = to_tensor(imgs[order])
    assert torch.equal(batch[flips], plain[flips].flip(3))
    assert torch.equal(batch[~flips], plain[~flips])


def test_fixed_batches_in_order_plain_or_all_mirrored():
    imgs = _images(n=10)
    loader = BatchLoader(imgs, np.arange(10), batch_size=4, seed=0, hflip=True)
    idx = np.array([7, 2, 9, 0, 5])
    plain = torch.cat(list(fixed_batches(loader, idx, 2)))  # [5, 3, 8, 8] in batches of 2, 2, 1
    mirrored = torch.cat(list(fixed_batches(loader, idx, 2, mirrored=True)))
    assert torch.equal(plain, to_tensor(imgs[idx]))
    assert torch.equal(mirrored, plain.flip(3))


def test_rank_shards_make_up_the_global_batch():
    imgs = _images()
    single = BatchLoader(imgs, np.arange(20), batch_size=8, seed=2, hflip=True)
    ranks = [BatchLoader(imgs, np.arange(20), batch_size=8, seed=2, hflip=True, rank=r, world_size=2) for r in (0, 1)]
    for _ in range(4):
        whole = single.next()
        parts = [r.next() for r in ranks]
        assert parts[0].shape[0] == 4
        assert torch.equal(torch.cat(parts), whole)
    with pytest.raises(DataError, match="multiple of the process count"):
        BatchLoader(imgs, np.arange(20), batch_size=7, world_size=2)


def test_channels_last_batches_and_grayscale():
    loader = BatchLoader(_images(), np.arange(20), batch_size=4, channels_last=True, hflip=True)
    assert loader.next().is_contiguous(memory_format=torch.channels_last)
    plain = BatchLoader(_images(), np.arange(20), batch_size=4, hflip=True)
    assert plain.next().is_contiguous()
    assert torch.equal(BatchLoader(_images(), np.arange(20), 4, channels_last=True, hflip=True).next(),
                       BatchLoader(_images(), np.arange(20), 4, hflip=True).next())
    gray = BatchLoader(_images(c=1), np.arange(20), batch_size=4)
    b = gray.next()
    assert b.shape == (4, 1, 8, 8) and b.is_contiguous()


def test_split_uses_the_manifest_mask_or_a_seeded_fraction():
    mask = np.zeros(10, bool)
    mask[[2, 5]] = True
    train, val = split_indices(10, 0.5, 0, mask)
    assert val.tolist() == [2, 5] and len(train) == 8
    t1, v1 = split_indices(100, 0.1, seed=4)
    t2, v2 = split_indices(100, 0.1, seed=4)
    assert np.array_equal(v1, v2) and len(v1) == 10 and len(t1) == 90
    assert not set(t1) & set(v1)
    assert not np.array_equal(split_indices(100, 0.1, seed=5)[1], v1)
    assert len(split_indices(5, 0.01)[1]) == 1  # a positive fraction holds out at least one image
    assert len(split_indices(5, 0.0)[1]) == 0
    with pytest.raises(DataError, match="no training images"):
        split_indices(3, 0.5, val_mask=np.ones(3, bool))
