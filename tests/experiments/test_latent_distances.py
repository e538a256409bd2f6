"""latent-distances on a tiny budget: table structure, finite distances, the AUC helper."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exp_checks import check_section, finite  # noqa: E402

from animegen.cli.main import main  # noqa: E402
from animegen.experiments.latent_distances import auc  # noqa: E402


def test_auc_counts_pairs_and_ties():
    assert auc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 1.0
    assert auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 0.0
    assert auc(np.array([1.0]), np.array([1.0])) == 0.5
    assert auc(np.array([1.0, 3.0]), np.array([2.0])) == 0.5


def test_latent_distances_tiny_cli(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["-q", "experiment", "latent-distances", "--data", "synth:48", "--minutes", "0.02", "--out",
              str(tmp_path)])
    assert exc.value.code == 0
    md = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert md == tmp_path / "latent-distances" / "report.md"
    data = check_section(md)
    assert list(tmp_path.glob("**/*.json"))
    d = data["numbers"]["distances"]
    assert set(d) == {"same_face_augmented", "different_faces", "other_expression", "other_pose",
                      "other_background"}
    for v in d.values():
        assert v["n"] > 0 and finite(v["median"]) and 0 <= v["p5"] <= v["median"] <= v["p95"]
    for a in data["numbers"]["auc_vs_different"].values():
        assert 0.0 <= a <= 1.0
    assert len(data["rows"]) == 9  # 4 same-kinds + different + 4 ratio rows
    assert "VAE z=50" in data["rows"][0]["setup"]
