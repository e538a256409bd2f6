"""animegen.train.context and device: guarded optimizer steps, clipping, autocast, precision choice."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from animegen.errors import ConfigError
from animegen.train import device as devmod
from animegen.train.context import Divergence, TrainContext


def _setup(**kw):
    torch.manual_seed(0)
    net = nn.Linear(4, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    return net, TrainContext({"net": opt}, **kw)


def test_optimize_steps_and_returns_the_grad_norm():
    net, ctx = _setup()
    before = net.weight.detach().clone()
    x = torch.randn(8, 4)
    loss = net(x).pow(2).mean()
    grads = torch.autograd.grad(loss, list(net.parameters()), retain_graph=True)
    want = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))
    norm = ctx.optimize("net", loss)
    assert torch.allclose(norm, want)
    assert torch.allclose(net.weight, before - 0.1 * grads[0])
    assert torch.equal(ctx.grad_norms["net"], norm)


@pytest.mark.parametrize("kind", ["nan", "inf", "big"])
def test_divergence_is_raised_before_the_step(kind):
    net, ctx = _setup(max_grad_norm=10.0)
    before = [p.detach().clone() for p in net.parameters()]
    loss = net(torch.randn(8, 4)).pow(2).mean()
    loss = {"nan": loss * float("nan"), "inf": loss * float("inf"), "big": loss * 1e6}[kind]
    with pytest.raises(Divergence) as err:
        ctx.optimize("net", loss)
    assert err.value.optimizer == "net"
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_no_norm_limit_by_default_but_non_finite_still_caught():
    net, ctx = _setup()
    ctx.optimize("net", net(torch.randn(8, 4)).pow(2).mean() * 1e8)  # huge but finite: allowed
    with pytest.raises(Divergence, match="non-finite"):
        ctx.optimize("net", net(torch.randn(8, 4)).sum() * float("nan"))


def test_grad_clip_limits_the_applied_gradient():
    net, ctx = _setup(grad_clip=0.01)
    before = net.weight.detach().clone()
    norm = ctx.optimize("net", net(torch.randn(8, 4)).pow(2).mean() * 100)
    assert norm > 0.01  # the measured (unclipped) norm is returned
    step = torch.cat([(before - net.weight).flatten(), torch.zeros(0)])
    assert torch.linalg.vector_norm(step) <= 0.1 * 0.01 * 1.0001


def test_autocast_dtype_follows_the_precision():
    _, ctx32 = _setup(precision="fp32")
    _, ctx16 = _setup(precision="bf16")
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with ctx32.autocast():
        assert (a @ b).dtype == torch.float32
    with ctx16.autocast():
        assert (a @ b).dtype == torch.bfloat16


def test_unknown_optimizer_name_is_a_clear_error():
    net, ctx = _setup()
    with pytest.raises(KeyError, match="make_optimizers"):
        ctx.optimize("g", net(torch.randn(2, 4)).sum())


def test_precision_and_device_resolution(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(devmod, "cpu_has_bf16", lambda: True)
    assert devmod.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(devmod, "cpu_has_bf16", lambda: False)
    assert devmod.resolve_precision("auto", cpu) == "fp32"
    assert devmod.resolve_precision("fp16", cpu) == "fp16"
    assert devmod.resolve_device("cpu") == cpu
    if not torch.cuda.is_available():
        assert devmod.resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(ConfigError, match="no CUDA"):
            devmod.resolve_device("cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        devmod.resolve_device("tpu9")
