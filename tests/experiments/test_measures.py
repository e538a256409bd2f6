"""The shared measurements of the seed 001-003 experiments, on planted answers (no training)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from animegen.experiments import measures as M
from animegen.experiments.dcgan_seed002 import collapse_signal


class _Encoder(torch.nn.Module):
    """Encodes to a code whose first ``k`` units follow the image mean and the rest are constant."""

    def __init__(self, k: int, dim: int = 6):
        super().__init__()
        self.k, self.latent_dim = k, dim

    def encode(self, x):
        m = x.mean(dim=(1, 2, 3))  # [N]
        z = torch.zeros(x.shape[0], self.latent_dim)
        z[:, : self.k] = m[:, None] * 10
        return z


def test_active_units_counts_the_units_that_vary_across_images():
    images = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 1), dtype=np.uint8)
    out = M.active_units(_Encoder(k=2), images)
    assert out == {"active_units": 2, "latent_dim": 6, "threshold": M.ACTIVE_UNIT_THRESHOLD}


class _Linear(torch.nn.Module):
    latent_dim = 4

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(4))

    def decode(self, z):  # a smooth decoder: one grey level per code
        return torch.tanh(z @ self.w)[:, None, None, None].expand(-1, 1, 8, 8)  # [N, 1, 8, 8]

    def forward(self, z):
        return self.decode(z)


def test_latent_continuity_of_a_smooth_decoder_is_even():
    out = M.latent_continuity(_Linear(), pairs=3, steps=9)
    assert out["pairs"] <= 3 and out["jump_ratio_mean"] >= 1.0
    assert out["jump_ratio_max"] >= out["jump_ratio_mean"]


def _log(run, rows):
    run.mkdir()
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_stability_and_collapse_signal_from_metrics(tmp_path):
    rows = [{"step": 0, "event": "start"}]
    rows += [{"step": s, "train/loss_g": 1.0 + (0.5 if s % 20 else -0.5)} for s in range(10, 210, 10)]
    rows += [{"step": s, "health/diversity_ratio": v} for s, v in ((50, 0.2), (100, 0.8), (150, 0.6), (200, 0.3))]
    rows += [{"step": 120, "event": "rollback"}, {"step": 200, "event": "end"}]
    _log(tmp_path / "run", rows)
    st = M.stability(tmp_path / "run", "loss_g")
    assert st["rollbacks"] == 1 and st["nonfinite"] == 0 and st["points"] == 20
    assert st["loss_roughness"] == pytest.approx(1.0 / 1.0, rel=0.05)  # changes of ±1 around a mean |loss| of 1
    sig = collapse_signal(tmp_path / "run")
    assert sig["peak"] == 0.8 and sig["min_after_peak"] == 0.3 and sig["collapsed"] is True  # fell after peaking


def test_no_collapse_verdict_for_a_generator_that_never_got_diverse(tmp_path):
    _log(tmp_path / "run", [{"step": s, "health/diversity_ratio": v} for s, v in ((10, 0.1), (20, 0.05))])
    sig = collapse_signal(tmp_path / "run")
    assert sig["reached_threshold"] is False and sig["collapsed"] is False
