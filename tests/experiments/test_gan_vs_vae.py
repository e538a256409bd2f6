"""gan-vs-vae end to end on a tiny budget: four models on the same data, the four table rows, numbers in range."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exp_checks import check_section, finite  # noqa: E402

from animegen.experiments import run_experiments  # noqa: E402


def test_gan_vs_vae_tiny_shares_the_gan_runs(tmp_path):
    mds = run_experiments(["dcgan-seed002", "gan-vs-vae"], tmp_path, minutes=0.04, max_steps=2)
    data = check_section(mds[1])
    assert [r["claim"].split(":")[0] for r in data["rows"]] == ["image quality", "diversity", "training",
                                                               "latent space"]
    models = data["numbers"]["models"]
    assert list(models) == ["DCGAN", "WGAN-GP", "VAE", "VAE-GAN"]
    seed002 = check_section(mds[0])["numbers"]["runs"]
    assert models["DCGAN"]["run"] == seed002["dcgan-seed002"]  # trained once, shared
    assert models["WGAN-GP"]["run"] == seed002["wgan-gp-seed002"]
    for m in models.values():
        assert finite(m["sharpness_ratio"]) and m["sharpness_ratio"] >= 0
        assert finite(m["diversity_ratio"]) and m["diversity_ratio"] > 0
        assert m["continuity"]["jump_ratio_mean"] >= 1.0  # the largest frame change is at least the mean one
        assert m["stability"]["nonfinite"] == 0
