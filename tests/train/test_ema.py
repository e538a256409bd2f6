"""animegen.train.ema: the average, the start step, buffers, export and the swap."""
from __future__ import annotations

import torch
from torch import nn

from animegen.train.ema import EMA


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
