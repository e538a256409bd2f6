"""ae-vs-vae end to end on a tiny budget: the verdict table's structure and numbers that hold even untrained."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exp_checks import check_section, finite  # noqa: E402

from animegen.experiments import run_experiments  # noqa: E402


def test_ae_vs_vae_tiny(tmp_path):
    md, = run_experiments(["ae-vs-vae"], tmp_path, minutes=0.02, max_steps=3)
    data = check_section(md)
    assert len(data["rows"]) == 18  # 9 claims at each of two sizes
    sizes = data["numbers"]["sizes"]
    assert set(sizes) == {"64", "32"}  # tiny budget: 128 → 64 px and 64 → 32 px
    for s in sizes.values():
        assert s["ae"]["latent_dim"] == 256 and s["vae"]["latent_dim"] == 50
        for m in (s["ae"], s["vae"]):
            for k in ("mean_std", "mean_norm", "prior_standard_ratio", "prior_fitted_ratio", "morph_mid_ratio",
                      "gap_ratio_2d", "sharpness_prior_standard", "sharpness_prior_fitted", "sharpness_morph_mid"):
                assert finite(m[k]) and m[k] >= 0, k
            assert m["morph_jump_ratio"] >= 1.0  # the largest change is at least the mean one
    assert len(data["images"]) == 6
    assert set(data["numbers"]["runs"]) == {"ae256-64", "vae50-64", "ae256-32", "vae50-32"}
