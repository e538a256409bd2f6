"""benchmarks/budget_curve.py at a tiny budget: staged training, resumable, scores on the test half, table + plot."""
from __future__ import annotations

import json

import pytest
from test_bench_smoke import _faces_folder, _run


@pytest.mark.slow
def test_budget_curve_trains_in_stages_resumes_and_reports(tmp_path):
    from animegen.metrics.api import inception_available

    faces = _faces_folder(tmp_path / "faces", n=48)
    work, res, md, png = tmp_path / "work", tmp_path / "curve.json", tmp_path / "curve.md", tmp_path / "curve.png"
    common = ["--faces", str(faces), "--models", "recommended", "--n", "8", "--holdout", "0.5", "--work", str(work),
              "--results", str(res), "--table", str(md), "--plot", str(png), "--set", "train.batch_size=8",
              "--set", "train.eval_every=0", "--set", "train.sample_every=0"]
    score = [] if inception_available() else ["--no-score"]
    _run(tmp_path, "budget_curve.py", *common, "--budgets", "0.01", "--no-score")
    first = json.loads((work / "state.json").read_text())["models"]["recommended"]
    assert list(first["stages"]) == ["0.01"]

    _run(tmp_path, "budget_curve.py", *common, "--budgets", "0.01", "0.03", *score)  # continues the same run
    m = json.loads(res.read_text())["models"]["recommended"]
    assert m["run"] == first["run"] and list(m["stages"]) == ["0.01", "0.03"]
    assert m["stages"]["0.01"] == first["stages"]["0.01"]  # not trained again
    assert m["stages"]["0.03"]["steps"] > m["stages"]["0.01"]["steps"]
    assert (work / "recommended" / "kept" / "model-0.03.safetensors").is_file()
    table = md.read_text()
    assert "| recommended |" in table and "0.03 CPU-min" in table and png.stat().st_size > 1000
    if score:  # no Inception weights: trained, not scored
        assert "trained (" in table
    else:
        s = m["scores"]["0.03"]
        assert s["fid"] > 0 and s["n"] == 8 and "test half" in s["real_split"]
        assert "0.01" in m["scores"]  # the stage trained without a score earlier is scored now
