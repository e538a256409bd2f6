"""kl-balance end to end on a tiny budget: the verdict table's structure and numbers that hold even untrained."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exp_checks import check_section, finite  # noqa: E402

from animegen.experiments import run_experiments  # noqa: E402
from animegen.experiments.kl_balance import sweep  # noqa: E402


def test_kl_balance_tiny(tmp_path):
    md, = run_experiments(["kl-balance"], tmp_path, minutes=0.02, max_steps=2)
    data = check_section(md)
    assert len(data["rows"]) == 5
    assert data["rows"][2]["article"] == "0.001·KL" and data["rows"][2]["verdict"] == "differs"
    pts = data["numbers"]["sweep"]
    assert [p["label"] for p in pts] == [p["label"] for p in sweep()]
    assert {p["sigma"] for p in pts if p["beta"] == 1.0 and not p["calibrated"]} == {0.03, 0.1, 0.3, 1.0}
    for p in pts:
        assert finite(p["kl_per_image"]) and p["kl_per_image"] >= 0
        assert finite(p["mse_per_pixel"]) and 0 <= p["mse_per_pixel"] <= 4  # [-1, 1] pixels
        assert 0 <= p["active_units"] <= p["latent_dim"] == 64
        for part in ("recon", "samples"):
            assert finite(p[part]["sharpness_ratio"]) and p[part]["sharpness_ratio"] >= 0
            assert finite(p[part]["diversity_ratio"]) and p[part]["diversity_ratio"] >= 0
        fid = p["samples"]["fid"]
        assert fid is None or (finite(fid["fid"]) and fid["fid"] >= 0 and fid["n_fake"] == 12)
    assert len(data["numbers"]["runs"]) == 7 and len(data["images"]) == 1
