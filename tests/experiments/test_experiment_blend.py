"""blend on a tiny budget: table structure, shares in range; the source bookkeeping on a toy probe."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exp_checks import check_section, finite  # noqa: E402

from animegen.experiments import run_experiments  # noqa: E402
from animegen.experiments.blend import measure  # noqa: E402
from animegen.experiments.shared import sharpness  # noqa: E402


class _Target:
    def __init__(self, name, classes):
        self.name, self.classes = name, classes


class _Probe:
    """Reads class = sign of code dims 0 and 1 (the 'model' decodes a code to itself as a 1-pixel image)."""

    def __init__(self):
        self.config = type("C", (), {"targets": [_Target("hair_hue", ("a", "b")), _Target("eye_hue", ("a", "b"))]})

    def predict(self, x):
        v = x[:, :, 0, 0]
        return {"hair_hue": torch.stack([(v[:, 0] < 0).float(), (v[:, 0] >= 0).float()], 1),
                "eye_hue": torch.stack([(v[:, 1] < 0).float(), (v[:, 1] >= 0).float()], 1)}


class _Identity(torch.nn.Module):
    latent_dim = 2

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))  # decode_codes reads the device from a parameter

    def decode(self, z):
        return z[:, :, None, None].expand(-1, -1, 3, 3)  # [B, 2, 3, 3]


def test_measure_counts_sources_per_attribute():
    za = torch.tensor([[-1.0, 3.0], [-1.0, -1.0]])
    zb = torch.tensor([[3.0, -1.0], [-1.0, -1.0]])
    zc = torch.tensor([[-2.0, 2.0], [5.0, 5.0]])  # control C of pair 0 = A's classes in both attributes
    m = measure(_Identity(), _Probe(), za, zb, zc)  # blend of pair 0 = (1, 1): hair from B, eyes from A
    assert m["per_attribute"]["hair_hue"] == {"differing_pairs": 1, "from_a": 0, "from_b": 1, "neither": 0}
    assert m["per_attribute"]["eye_hue"] == {"differing_pairs": 1, "from_a": 1, "from_b": 0, "neither": 0}
    assert m["share_pairs_with_both"] == 0.5 and m["share_hair_of_one_eyes_of_other"] == 1.0
    ctrl = m["control_unrelated_face"]
    assert ctrl["share_pairs_with_both"] == 0.0 and ctrl["share_from_a"] == 1.0


def test_sharpness_prefers_edges():
    flat = torch.zeros(1, 3, 8, 8)
    edges = torch.zeros(1, 3, 8, 8)
    edges[..., ::2] = 1.0
    assert float(sharpness(edges)[0]) > float(sharpness(flat)[0]) == 0.0


def test_blend_tiny(tmp_path):
    md, = run_experiments(["blend"], tmp_path, data="synth:48", minutes=0.02, max_steps=3)
    data = check_section(md)
    num = data["numbers"]
    assert 3 <= len(data["rows"]) <= 4
    for k in ("share_pairs_with_both", "share_from_a", "share_from_b", "share_neither"):
        assert 0.0 <= num[k] <= 1.0
    assert abs(num["share_from_a"] + num["share_from_b"] + num["share_neither"] - 1.0) < 1e-6 or \
        num["mean_differing_attributes"] == 0
    assert finite(num["blend_sharpness_ratio"]) and num["blend_sharpness_ratio"] >= 0
    assert num["pairs"] >= 4
    assert 0.0 <= num["control_unrelated_face"]["share_pairs_with_both"] <= 1.0
