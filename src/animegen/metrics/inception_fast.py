"""Inference-only form of the FID Inception: same numbers, fewer and larger GEMMs.

Batch norm folded into the convolutions; the 1×1 convolutions that read the same input merged into
one (the pool branch's 1×1 convolution moved before its average pool, which commutes with it
exactly); channels-last memory; on CPU, oneDNN convolutions with the ReLU fused as a post-op.
Its pool3 features match :class:`~animegen.metrics.inception_net.FIDInceptionV3` to float rounding
(checked in the tests).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from animegen.metrics.inception_net import (
    FEATURE_DIM,
    BasicConv2d,
    FIDInceptionV3,
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE,
    _avg3,
)
from animegen.metrics.inception_weights import IS_HINT, InceptionWeightsError


def _fold(bc: BasicConv2d) -> tuple[Tensor, Tensor]:
    """Batch norm folded into the convolution: (weight, bias) with ``conv(x, w) + b == bn(conv(x))``."""
    bn = bc.bn
    assert bn.running_var is not None and bn.running_mean is not None  # eval-mode BN always tracks them
    scale = (bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)) / torch.sqrt(
        bn.running_var + bn.eps
    )
    w = bc.conv.weight * scale[:, None, None, None]
    b = (bn.bias if bn.bias is not None else torch.zeros_like(scale)) - bn.running_mean * scale
    return w.detach().clone(), b.detach().clone()


class _Conv(nn.Module):
    """A folded conv + bias (+ ReLU)."""

    def __init__(self, w: Tensor, b: Tensor, stride=1, padding=0, relu: bool = True):
        super().__init__()
        self.weight = nn.Parameter(w.contiguous(memory_format=torch.channels_last), requires_grad=False)
        self.bias = nn.Parameter(b.contiguous(), requires_grad=False)
        self.stride = stride
        self.padding = padding
        self.relu = relu

    @classmethod
    def of(cls, bc: BasicConv2d, relu: bool = True) -> _Conv:
        w, b = _fold(bc)
        return cls(w, b, bc.conv.stride, bc.conv.padding, relu)

    @classmethod
    def merged(cls, parts: list[BasicConv2d], relu: bool = False) -> _Conv:
        """Several 1×1 convolutions of the same input as one (outputs concatenated)."""
        folded = [_fold(p) for p in parts]
        return cls(torch.cat([w for w, _ in folded]), torch.cat([b for _, b in folded]), 1, 0, relu=relu)

    def forward(self, x: Tensor) -> Tensor:
        if _FUSED_RELU and self.relu and x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16):
            # oneDNN conv with the ReLU as a post-op: one pass over the output instead of two
            return torch.ops.mkldnn._convolution_pointwise(
                x, self.weight, self.bias, _pair(self.padding), _pair(self.stride), [1, 1], 1, "relu", [], ""
            )
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        return F.relu(y) if self.relu else y


def _pair(v) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(i) for i in v]


def _has_fused_relu() -> bool:
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return False


_FUSED_RELU = _has_fused_relu()


class _FastA(nn.Module):
    def __init__(self, m: InceptionA):
        super().__init__()
        parts = [m.branch1x1, m.branch5x5_1, m.branch3x3dbl_1, m.branch_pool]
        self.splits = [p.conv.out_channels for p in parts]
        self.n_relu = sum(self.splits[:3])
        # avgpool(conv1x1(x)) == conv1x1(avgpool(x)) (the pool averages with weights summing to 1), so
        # the pool branch's 1x1 conv joins the others and pools only its few output channels
        self.head = _Conv.merged(parts)
        self.b5 = _Conv.of(m.branch5x5_2)
        self.d2, self.d3 = _Conv.of(m.branch3x3dbl_2), _Conv.of(m.branch3x3dbl_3)

    def forward(self, x: Tensor) -> Tensor:
        y = self.head(x)
        y[:, : self.n_relu].relu_()  # the pool branch's part gets its ReLU after pooling
        a, b, d, p = torch.split(y, self.splits, dim=1)
        return torch.cat([a, self.b5(b), self.d3(self.d2(d)), F.relu(_avg3(p))], 1)


class _FastB(nn.Module):
    def __init__(self, m: InceptionB):
        super().__init__()
        self.b3 = _Conv.of(m.branch3x3)
        self.d1, self.d2, self.d3 = _Conv.of(m.branch3x3dbl_1), _Conv.of(m.branch3x3dbl_2), _Conv.of(m.branch3x3dbl_3)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.b3(x), self.d3(self.d2(self.d1(x))), F.max_pool2d(x, 3, stride=2)], 1)


class _FastC(nn.Module):
    def __init__(self, m: InceptionC):
        super().__init__()
        parts = [m.branch1x1, m.branch7x7_1, m.branch7x7dbl_1, m.branch_pool]
        self.splits = [p.conv.out_channels for p in parts]
        self.n_relu = sum(self.splits[:3])
        self.head = _Conv.merged(parts)
        self.b = nn.Sequential(_Conv.of(m.branch7x7_2), _Conv.of(m.branch7x7_3))
        self.d = nn.Sequential(*[_Conv.of(getattr(m, f"branch7x7dbl_{i}")) for i in (2, 3, 4, 5)])

    def forward(self, x: Tensor) -> Tensor:
        y = self.head(x)
        y[:, : self.n_relu].relu_()
        a, b, d, p = torch.split(y, self.splits, dim=1)
        return torch.cat([a, self.b(b), self.d(d), F.relu(_avg3(p))], 1)


class _FastD(nn.Module):
    def __init__(self, m: InceptionD):
        super().__init__()
        parts = [m.branch3x3_1, m.branch7x7x3_1]
        self.splits = [p.conv.out_channels for p in parts]
        self.head = _Conv.merged(parts, relu=True)
        self.b = _Conv.of(m.branch3x3_2)
        self.d = nn.Sequential(*[_Conv.of(getattr(m, f"branch7x7x3_{i}")) for i in (2, 3, 4)])

    def forward(self, x: Tensor) -> Tensor:
        b, d = torch.split(self.head(x), self.splits, dim=1)
        return torch.cat([self.b(b), self.d(d), F.max_pool2d(x, 3, stride=2)], 1)


class _FastE(nn.Module):
    def __init__(self, m: InceptionE):
        super().__init__()
        self.max_pool = m.max_pool
        parts = [m.branch1x1, m.branch3x3_1, m.branch3x3dbl_1] + ([] if m.max_pool else [m.branch_pool])
        self.splits = [p.conv.out_channels for p in parts]
        self.n_relu = sum(self.splits[:3])
        self.head = _Conv.merged(parts)
        self.a2a, self.a2b = _Conv.of(m.branch3x3_2a), _Conv.of(m.branch3x3_2b)
        self.d2 = _Conv.of(m.branch3x3dbl_2)
        self.d3a, self.d3b = _Conv.of(m.branch3x3dbl_3a), _Conv.of(m.branch3x3dbl_3b)
        self.pool_conv = _Conv.of(m.branch_pool) if m.max_pool else None

    def forward(self, x: Tensor) -> Tensor:
        y = self.head(x)
        y[:, : self.n_relu].relu_()
        outs = torch.split(y, self.splits, dim=1)
        one, a, d = outs[0], outs[1], self.d2(outs[2])
        if self.pool_conv is not None:  # max pooling does not commute with the conv
            pool = self.pool_conv(F.max_pool2d(x, 3, stride=1, padding=1))
        else:
            pool = F.relu(_avg3(outs[3]))
        return torch.cat([one, self.a2a(a), self.a2b(a), self.d3a(d), self.d3b(d), pool], 1)


class FastFIDInception(nn.Module):
    """Inference-only form of :class:`FIDInceptionV3` (same numbers to float rounding, fewer, larger GEMMs).

    ``forward(x)`` → pool3 ``[N, 2048]``; :meth:`logits` → unbiased 1008-way logits.
    """

    fc_weight: Tensor  # buffer registered in __init__

    def __init__(self, net: FIDInceptionV3, has_logits: bool):
        super().__init__()
        self.stem = nn.Sequential(_Conv.of(net.Conv2d_1a_3x3), _Conv.of(net.Conv2d_2a_3x3), _Conv.of(net.Conv2d_2b_3x3))
        self.stem2 = nn.Sequential(_Conv.of(net.Conv2d_3b_1x1), _Conv.of(net.Conv2d_4a_3x3))
        blocks: list[nn.Module] = [
            _FastA(net.Mixed_5b),
            _FastA(net.Mixed_5c),
            _FastA(net.Mixed_5d),
            _FastB(net.Mixed_6a),
        ]
        blocks += [_FastC(getattr(net, f"Mixed_6{c}")) for c in "bcde"]
        blocks += [_FastD(net.Mixed_7a), _FastE(net.Mixed_7b), _FastE(net.Mixed_7c)]
        self.blocks = nn.Sequential(*blocks)
        self.has_logits = has_logits
        self.register_buffer("fc_weight", net.fc.weight.detach().clone() if has_logits else torch.zeros(0, FEATURE_DIM))
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        x = F.max_pool2d(self.stem(x), 3, stride=2)  # [N, 64, 73, 73]
        x = F.max_pool2d(self.stem2(x), 3, stride=2)  # [N, 192, 35, 35]
        x = self.blocks(x)  # [N, 2048, 8, 8]
        return x.mean(dim=(2, 3))  # [N, 2048]

    def logits(self, pool: Tensor) -> Tensor:
        """Unbiased logits ``pool3 @ Wᵀ`` ``[N, 1008]`` (no bias, as the original Inception Score code)."""
        if not self.has_logits:
            raise InceptionWeightsError(IS_HINT)
        return pool @ self.fc_weight.t()
