"""Every benchmark script runs end to end in its ``--smoke`` mode, exits 0 and writes its JSON where it is
told (a temporary folder), never into ``benchmarks/results/`` or ``docs/images/``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
GUARDED = [BENCH / "results", REPO / "docs" / "images"]


def _snapshot() -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for d in GUARDED if d.is_dir() for p in d.rglob("*") if p.is_file()}


def _env(tmp_path: Path) -> dict[str, str]:
    """The environment benchmark scripts and the animegen CLI run in here: 1 thread, a private cache, quiet."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ANIMEGEN_CACHE": str(tmp_path / "cache"), "ANIMEGEN_QUIET": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(BENCH), env.get("PYTHONPATH", "")])
    return env


def _run(tmp_path: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    before = _snapshot()
    r = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=tmp_path, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{script} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert _snapshot() == before, f"{script} --smoke wrote into benchmarks/results/ or docs/images/"
    return r


def _json(path: Path) -> dict:
    assert path.is_file(), f"{path} was not written"
    return json.loads(path.read_text())


def _faces_folder(root: Path, n: int = 48) -> Path:
    from PIL import Image

    from animegen.data.synthetic import render_faces

    root.mkdir(parents=True)
    images, _ = render_faces(n, size=64, seed=0)  # uint8 [n, 64, 64, 3]
    for i, a in enumerate(images):
        Image.fromarray(a).save(root / f"{i:03d}.png")
    return root


def _need_inception() -> None:
    from animegen.metrics.inception import InceptionWeightsError, find_weights

    try:
        find_weights()
    except InceptionWeightsError:
        pytest.skip("FID Inception weights not installed")


def test_smoke_needs_an_explicit_output(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, str(BENCH / "bench_synth.py"), "--smoke"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "--out" in r.stderr


def test_bench_synth(tmp_path):
    _run(tmp_path, "bench_synth.py", "--smoke", "--out", str(tmp_path / "synth.json"))
    assert _json(tmp_path / "synth.json")["rows"]


def test_bench_train(tmp_path):
    _run(tmp_path, "bench_train.py", "--smoke", "--out", str(tmp_path / "train.json"))
    assert "ae" in _json(tmp_path / "train.json")["results"]


def test_bench_prepare(tmp_path):
    _run(tmp_path, "bench_prepare.py", "--smoke", "--out", str(tmp_path / "prepare.json"))
    parts = [row["part"] for row in _json(tmp_path / "prepare.json")["rows"]]
    assert parts == ["prepare", "load"]


@pytest.mark.slow
def test_bench_inception(tmp_path):
    _need_inception()
    _run(tmp_path, "bench_inception.py", "--smoke", "--out", str(tmp_path / "inception.json"))
    assert "fast/b2/t1" in _json(tmp_path / "inception.json")["runs"]


@pytest.mark.slow
def test_plain_dcgan(tmp_path):
    _run(tmp_path, "plain_dcgan.py", "--smoke", "--data", "synth:64", "--out", str(tmp_path / "plain"))
    summary = _json(tmp_path / "plain" / "summary.json")
    assert summary["steps"] >= 1 and (tmp_path / "plain" / "samples.npy").is_file()



@pytest.mark.slow
def test_vae_faces(tmp_path):
    faces = _faces_folder(tmp_path / "faces")
    _run(tmp_path, "vae_faces.py", "--smoke", "--faces", str(faces), "--work", str(tmp_path / "work"),
         "--results", str(tmp_path / "vae.json"), "--images", str(tmp_path / "images"))
    assert _json(tmp_path / "vae.json")["steps"] >= 1


@pytest.mark.slow
def test_fid_budget(tmp_path):
    _need_inception()
    faces = _faces_folder(tmp_path / "faces")
    _run(tmp_path, "fid_budget.py", "--smoke", "--faces", str(faces), "--work", str(tmp_path / "work"),
         "--results", str(tmp_path / "fid.json"), "--images", str(tmp_path / "images"))
    result = _json(tmp_path / "fid.json")
    assert result["ours"]["fid"] > 0 and result["plain"]["fid"] > 0


def test_bench_gmm_times_a_tiny_fit(tmp_path):
    _run(tmp_path, "bench_gmm.py", "--smoke", "--out", str(tmp_path / "g.json"))
    result = _json(tmp_path / "g.json")
    assert result["fit_count"] == result["codes"] == 300 and result["cpu_s"] >= 0 and result["peak_rss_mb"] > 0


@pytest.mark.slow
def test_vae_priors_scores_a_tiny_run(tmp_path):
    faces = _faces_folder(tmp_path / "faces", n=64)
    ds, runs = tmp_path / "ds", tmp_path / "runs"
    for cmd in (["prepare", str(faces), "--size", "64", "--crop", "none", "--val-fraction", "0.25", "--out", str(ds)],
                ["train", "--config", str(REPO / "configs" / "vae-faces.toml"), "--data", str(ds), "--out", str(runs),
                 "--name", "tiny", "--set", "train.steps=3", "--set", "train.batch_size=8", "--set",
                 "model.prior_components=2", "--set", "model.prior_stage2=0", "--set", "train.threads=1",
                 "--no-report"]):
        r = subprocess.run([sys.executable, "-m", "animegen", "-q", *cmd], cwd=tmp_path, env=_env(tmp_path),
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
    _run(tmp_path, "vae_priors.py", "--data", str(ds), "--run", f"tiny={runs / 'tiny-1'}", "--priors",
         "standard,gmm", "--truncation", "1.5", "--n", "0", "--images", str(tmp_path / "img"),
         "--results", str(tmp_path / "res"))
    result = _json(tmp_path / "res" / "vae_priors_tiny_standard-gmm_t1.5.json")
    assert result["steps"] == 3 and result["heldout_images"] == 16 and result["heldout_mse_per_pixel"] > 0
    assert result["mixture_codes"] == 2 * 48  # the trainer's final export: every training face and its mirror
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == [
        "tiny_gmm.png", "tiny_gmm_t1.5.png", "tiny_recon.png", "tiny_standard.png", "tiny_standard_t1.5.png"]
    _run(tmp_path, "vae_priors.py", "--data", str(ds), "--run", f"all={runs / 'tiny-1'}", "--priors", "standard",
         "--gmm-components", "3", "--fit-images", "0", "--fit-flips", "--n", "0", "--images", str(tmp_path / "img"),
         "--results", str(tmp_path / "res"))
    assert _json(tmp_path / "res" / "vae_priors_all_standard-gmm3.json")["refit_codes"] == 2 * 48  # all, mirrored
