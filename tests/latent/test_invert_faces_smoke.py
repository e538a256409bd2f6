"""The inversion benchmark's --smoke mode runs end to end (synthetic faces, a 2-step GAN, 3 inversion steps)."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_invert_faces_smoke(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src"),
           "ANIMEGEN_CACHE": str(tmp_path / "c")}
    cmd = [sys.executable, str(REPO / "benchmarks" / "invert_faces.py"), "--smoke", "--work", str(tmp_path)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    out = json.loads((tmp_path / "invert_faces.json").read_text())
    for group in ("held_out", "training"):
        assert out[group]["n"] == 4
        assert out[group]["inverted"]["pixel_mse"] >= 0 and out[group]["random_codes"]["pixel_mse"] > 0
    assert out["setup"]["gan_steps"] == 2 and (tmp_path / "invert_faces.png").is_file()
