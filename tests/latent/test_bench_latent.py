"""The latent editing benchmark's smoke mode runs end to end and writes its rows (no timing is asserted)."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_latent_smoke(tmp_path):
    out = tmp_path / "latent.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_latent.py"), "--smoke", "--threads", "1",
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["rows"]
    assert {(r["model"], r["task"]) for r in rows} == {(m, t) for m in ("vae", "gan")
                                                       for t in ("interpolate_gif", "blend_with_8_grid",
                                                                 "perturb_random_8")}
    assert all(r["median_s"] > 0 and r["frames"] == 8 and r["threads"] == 1 for r in rows)
