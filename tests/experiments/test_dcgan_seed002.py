"""dcgan-seed002 end to end on a tiny budget: table structure, the three runs, FID/KID finite, IS stated plainly."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exp_checks import check_section, finite  # noqa: E402

from animegen.experiments import run_experiments  # noqa: E402


def test_dcgan_seed002_tiny(tmp_path):
    md, = run_experiments(["dcgan-seed002"], tmp_path, minutes=0.02, max_steps=2)
    data = check_section(md)
    assert len(data["rows"]) == 4
    models = data["numbers"]["models"]
    assert set(models) == {"DCGAN", "WGAN", "WGAN-GP"}
    for m in models.values():
        assert 1 <= m["steps"] <= 2  # max_steps caps it; the tiny CPU budget may stop it first
        if data["numbers"]["fid_unavailable"] is None:
            assert finite(m["fid"]["fid"]) and m["fid"]["fid"] >= 0 and finite(m["fid"]["kid"])
        c = m["collapse"]
        assert c["series"] and all(finite(v) and v >= 0 for _, v in c["series"])
        assert c["collapsed"] is False or c["reached_threshold"]  # a collapse needs a healthy value first
        assert 0 <= m["pixels"]["diversity_ratio"] and finite(m["pixels"]["sharpness_ratio"])
    is_row = data["rows"][3]
    assert models["DCGAN"]["is"]["is"] is None and "IS unavailable" in is_row["ours"]
    assert set(data["numbers"]["runs"]) == {"dcgan-seed002", "wgan-seed002", "wgan-gp-seed002"}


def test_inception_score_only_with_classifier_weights():
    from animegen.experiments.measures import inception_score_of

    out = inception_score_of(None, None)  # type: ignore[arg-type]
    assert out["is"] is None and "unavailable" in out["why"] and "--inception" in out["why"]
