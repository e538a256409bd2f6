"""Data parallelism on CPU: 2 gloo processes (torch.multiprocessing.spawn) vs one process.

Exact comparison uses a model without BatchNorm and without sampling noise: BatchNorm normalises with the
statistics of each rank's shard (B / 2 images) instead of the global batch, and noise RNGs are offset per
rank by design, so those models match a single-process run in distribution, not in value.
"""
from __future__ import annotations

import json
import socket

import pytest
import torch
import torch.multiprocessing as mp
from train_toys import random_images, state_of, toy_config, toys  # noqa: F401

from animegen.train import Trainer
from animegen.train import distributed as D
from animegen.train.data import BatchLoader, split_indices


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")
def test_two_processes_match_each_other_and_a_single_process(tmp_path, toys):
    from dist_worker import worker

    exact = toy_config("toy-ae", steps=6, batch_size=8, model={"noise": 0.0})
    bn_gan = toy_config("toy-gan", steps=4, batch_size=8, lr_decay=0.5, model={"bn": True, "n_critic": 2})
    half = toy_config("toy-ae", steps=3, batch_size=8, model={"noise": 0.0})
    jobs = [("exact", exact, None), ("gan", bn_gan, None), ("resumed", half, 6)]
    mp.spawn(worker, args=(2, _free_port(), str(tmp_path), jobs), nprocs=2, join=True)

    # sharding: at every step the two ranks train on disjoint halves of the single-process global batch
    served = [json.loads((tmp_path / f"exact-rank{r}.json").read_text()) for r in (0, 1)]
    ds = random_images()
    train_idx, _ = split_indices(len(ds), exact.data.val_fraction, exact.data.seed)
    loader = BatchLoader(ds.images, train_idx, 8, seed=exact.train.seed, hflip=exact.data.hflip)
    assert len(served[0]) == len(served[1]) == 6
    for a, b in zip(*served, strict=True):
        glob = loader.next_indices()[0].tolist()
        assert len(a) == len(b) == 4 and not set(a) & set(b) and a + b == glob
        assert set(a) <= set(train_idx.tolist())

    # checkpoint/resume under data parallelism: 3 steps, stop, --resume to 6 == 6 steps in one go, on both ranks
    for r in (0, 1):
        res = state_of(tmp_path / f"resumed-rank{r}.safetensors")
        full = state_of(tmp_path / f"exact-rank{r}.safetensors")
        assert all(torch.equal(res[k], full[k]) for k in full), r
    served_resumed = json.loads((tmp_path / "resumed-rank1.json").read_text())
    assert served_resumed == served[1]  # the resumed run continued the data order where it stopped
    assert [p.name for p in (tmp_path / "resumed").iterdir()] == ["toy-ae-1"]

    # rank 0 alone wrote the run folder; both ranks hold identical weights
    assert [p.name for p in (tmp_path / "exact").iterdir()] == ["toy-ae-1"]
    r0, r1 = state_of(tmp_path / "exact-rank0.safetensors"), state_of(tmp_path / "exact-rank1.safetensors")
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    g0, g1 = state_of(tmp_path / "gan-rank0.safetensors"), state_of(tmp_path / "gan-rank1.safetensors")
    params = [k for k in g0 if "running" not in k and "num_batches" not in k]
    assert all(torch.equal(g0[k], g1[k]) for k in params)  # BN running stats are per rank between broadcasts

    # same global batches in one process: the averaged gradients are the full-batch gradients
    single = Trainer(exact, tmp_path / "single", data=random_images())
    single.run()
    s = single.model.state_dict()
    for k in r0:
        assert torch.allclose(r0[k], s[k], atol=1e-5, rtol=1e-4), k
    saved = state_of(tmp_path / "exact" / "toy-ae-1" / "final.safetensors")
    assert all(torch.allclose(saved[k], state_of(single.run_dir / "final.safetensors")[k], atol=1e-5) for k in saved)


def test_single_process_helpers_are_no_ops():
    info = D.DistInfo()
    t = [torch.ones(3)]
    D.all_reduce_mean_(t, info)
    assert torch.equal(t[0], torch.ones(3))
    assert D.any_flag([True, False], info) == [True, False]
    assert D.broadcast_object("x", info) == "x" and D.gather_objects(1, info) == [1]
    assert D.rank_seed(5, 0) == 5 and D.rank_seed(5, 1) != 5


def test_buckets_split_by_size_and_dtype():
    ts = [torch.zeros(10), torch.zeros(10), torch.zeros(4, dtype=torch.float64), torch.zeros(1000)]
    buckets = D._buckets(ts, bucket_bytes=100)
    assert [len(b) for b in buckets] == [2, 1, 1]
