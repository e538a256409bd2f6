"""perturbation on a tiny budget: table structure, sensitivities finite and in range, the group mapping."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exp_checks import check_section, finite  # noqa: E402

from animegen.experiments import run_experiments  # noqa: E402
from animegen.experiments.probes import group_of  # noqa: E402


def test_groups_map_the_articles_words():
    assert group_of("eye_hue") == "eye colour" and group_of("mouth") == "expression"
    assert group_of("bangs") == "hair" and group_of("skin_tone") is None


def test_perturbation_tiny(tmp_path):
    md, = run_experiments(["perturbation"], tmp_path, data="synth:48", minutes=0.02, max_steps=3)
    data = check_section(md)
    num = data["numbers"]
    assert len(data["rows"]) == 4  # the top 3, then one row per group
    assert num["faces"] >= 8 and num["eps"] > 0
    assert sorted(num["ranking"]) == sorted(num["attributes"])
    for a in num["attributes"].values():
        assert 0 <= a["change"] <= 1 and 0 <= a["between_faces"] <= 1 and finite(a["sensitivity"])
    sens = [num["attributes"][a]["sensitivity"] for a in num["ranking"]]
    assert sens == sorted(sens, reverse=True)
