"""animegen.train.ema: the average, the start step, buffers, export and the swap."""
from __future__ import annotations

import torch
from torch import nn
from train_toys import random_images, state_of, toy_config, toys  # noqa: F401

from animegen.train.ema import EMA, recalibrate_batchnorm


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.generator = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
        self.critic = nn.Linear(4, 1)


def _perturb(model, amount=1.0):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(amount)
        model.generator[1].running_mean.add_(5.0)


def test_average_after_start_and_copy_before():
    torch.manual_seed(0)
    m = Net()
    ema = EMA(m, "generator", decay=0.9, start=2)
    _perturb(m)
    ema.update(m, step=1)  # before start: a copy
    assert torch.equal(ema.params["0.weight"], m.generator[0].weight)
    old = ema.params["0.weight"].clone()
    _perturb(m)
    ema.update(m, step=3)
    assert torch.allclose(ema.params["0.weight"], 0.9 * old + 0.1 * m.generator[0].weight, atol=1e-6)
    assert torch.equal(ema.buffers["1.running_mean"], m.generator[1].running_mean)  # buffers copied
    assert set(ema.params) == {n for n, _ in m.generator.named_parameters()}


def test_export_substitutes_only_the_ema_module():
    torch.manual_seed(0)
    m = Net()
    ema = EMA(m, "generator", decay=0.5)
    _perturb(m)
    ema.update(m, step=1)
    sd = ema.export_state_dict(m)
    assert torch.equal(sd["generator.0.weight"], ema.params["0.weight"])
    assert not torch.equal(sd["generator.0.weight"], m.generator[0].weight)
    assert torch.equal(sd["critic.weight"], m.critic.weight)
    assert set(sd) == set(m.state_dict())


def test_swapped_uses_ema_inside_and_restores_exactly():
    torch.manual_seed(0)
    m = Net()
    ema = EMA(m, "generator", decay=0.5)
    _perturb(m)
    ema.update(m, step=1)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with ema.swapped(m):
        assert torch.equal(m.generator[0].weight, ema.params["0.weight"])
    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_disabled_ema_exports_the_raw_model():
    m = Net()
    for ema in (EMA(m, "generator", decay=0.0), EMA(m, None, decay=0.999)):
        assert not ema.enabled
        ema.update(m, 5)
        sd = ema.export_state_dict(m)
        assert all(torch.equal(sd[k], v) for k, v in m.state_dict().items())
        assert ema.tensors() == {}


def test_tensors_roundtrip():
    torch.manual_seed(0)
    m = Net()
    a = EMA(m, "generator", decay=0.9)
    _perturb(m)
    a.update(m, 1)
    b = EMA(Net(), "generator", decay=0.9)
    b.load_tensors(a.tensors())
    assert all(torch.equal(a.tensors()[k], v) for k, v in b.tensors().items())


def test_recalibrate_batchnorm_is_the_plain_average_of_batch_statistics():
    torch.manual_seed(0)
    g = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).eval()
    g[1].running_mean.fill_(7.0)  # statistics of other weights
    xs = [torch.randn(16, 3) * (i + 1) for i in range(4)]
    it = iter(xs)
    recalibrate_batchnorm(g, lambda: g(next(it)), batches=4)
    with torch.no_grad():
        h = [g[0](x) for x in xs]
    torch.testing.assert_close(g[1].running_mean, torch.stack([x.mean(0) for x in h]).mean(0))
    torch.testing.assert_close(g[1].running_var, torch.stack([x.var(0) for x in h]).mean(0))
    assert not g.training and not g[1].training and g[1].momentum == 0.1  # modes and momentum restored


def test_trainer_exports_ema_weights_with_statistics_of_their_own(tmp_path, toys):
    """An EMA of a BatchNorm generator is exported with running statistics re-estimated for the averaged
    weights (not the live ones), from EMA_BN_BATCHES batches of the trainer's seeded prior samples."""
    from animegen.checkpoint import load_model
    from animegen.train import train
    from animegen.train.export import EMA_BN_BATCHES

    cfg = toy_config("toy-gan", steps=6, model={"bn": True}, ema_decay=0.5)
    run = train(cfg, tmp_path, data=random_images())
    exported = load_model(run / "final.safetensors")
    live = state_of(run / "train_state.safetensors")
    bn = [k for k in exported.state_dict() if k.endswith("running_mean")]
    assert bn
    expected = load_model(run / "final.safetensors")
    z = expected.sample_latent(EMA_BN_BATCHES * cfg.train.batch_size,
                               generator=torch.Generator().manual_seed(cfg.train.seed + 1))
    chunks = iter(z.split(cfg.train.batch_size))
    recalibrate_batchnorm(expected.generator, lambda: expected.decode(next(chunks)), EMA_BN_BATCHES)
    for k in bn:
        torch.testing.assert_close(exported.state_dict()[k], expected.state_dict()[k])
        live_key = next(n for n in live if n.endswith(k))
        assert not torch.equal(exported.state_dict()[k], live[live_key])
