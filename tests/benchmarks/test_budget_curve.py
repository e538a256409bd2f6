"""benchmarks/budget_curve.py at a tiny budget: staged training, resumable, scores on the test half, table + plot."""
from __future__ import annotations

import json

import pytest
from test_bench_smoke import _env, _faces_folder, _run


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
        out = _run(tmp_path, "budget_curve.py", *common, "--budgets", "0.01", "0.03", "--prior", "gmm").stdout
        assert "not scored with prior 'gmm'" in out and "no fitted Gaussian mixture" in out  # a GAN has none
        assert not json.loads(res.read_text())["models"]["recommended"].get("prior_scores", {}).get("gmm")


@pytest.mark.slow
def test_a_killed_stage_continues_from_its_last_checkpoint(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from test_bench_smoke import BENCH

    from animegen.checkpoint import read_header
    from animegen.runs import read_metrics

    faces = _faces_folder(tmp_path / "faces", n=48)
    work = tmp_path / "work"
    args = [sys.executable, str(BENCH / "budget_curve.py"), "--faces", str(faces), "--models", "recommended",
            "--holdout", "0.5", "--work", str(work), "--results", str(tmp_path / "c.json"),
            "--table", str(tmp_path / "c.md"), "--plot", str(tmp_path / "c.png"), "--budgets", "0.15", "--no-score",
            "--set", "train.batch_size=8", "--set", "train.eval_every=0", "--set", "train.sample_every=0",
            "--set", "train.checkpoint_every=5"]
    env = _env(tmp_path)
    run = work / "recommended" / "runs" / "recommended-1"
    state = run / "train_state.safetensors"
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (state.exists() and read_header(state)["step"] >= 10):
            assert proc.poll() is None and time.monotonic() < deadline, "the stage ended or hung before a checkpoint"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the script and its training, as a reboot would
        proc.wait()
    killed_at = read_header(state)["step"]
    assert not (run / "final.safetensors").exists()

    out = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "continuing the 0.15 CPU-min stage from its last checkpoint" in out.stdout
    m = json.loads((work / "state.json").read_text())["models"]["recommended"]
    assert m["run"] == str(run) and not (run.parent / "recommended-2").exists()  # the same run, not a new one
    assert m["stages"]["0.15"]["steps"] > killed_at
    resumed = [r for r in read_metrics(run) if r.get("event") == "resume"]
    assert len(resumed) == 1 and resumed[0]["budget_spent_s"]["cpu"] > 0


@pytest.mark.slow
def test_a_vae_is_scored_with_its_mixture_in_a_labelled_row_of_its_own(tmp_path):
    from animegen.metrics.api import inception_available

    if not inception_available():
        pytest.skip("needs the FID Inception weights (scores are what this test checks)")
    faces = _faces_folder(tmp_path / "faces", n=48)
    work, res, md = tmp_path / "work", tmp_path / "curve.json", tmp_path / "curve.md"
    common = ["--faces", str(faces), "--models", "vae", "--n", "8", "--holdout", "0.5", "--work", str(work),
              "--results", str(res), "--table", str(md), "--plot", str(tmp_path / "curve.png"), "--budgets", "0.01",
              "--set", "train.batch_size=8", "--set", "train.eval_every=0", "--set", "train.sample_every=0",
              "--set", "model.prior_components=2", "--set", "model.prior_stage2=0"]
    _run(tmp_path, "budget_curve.py", *common)
    _run(tmp_path, "budget_curve.py", *common, "--prior", "gmm", "--label", "vae=face VAE")
    m = json.loads(res.read_text())["models"]["vae"]
    plain, mixture = m["scores"]["0.01"], m["prior_scores"]["gmm"]["0.01"]
    assert mixture["n"] == 8 and mixture["fid"] > 0 and mixture["fid"] != plain["fid"]  # other samples, same model
    table = md.read_text()
    assert "| face VAE | " in table and "| face VAE (gmm) | " in table  # named by --label
