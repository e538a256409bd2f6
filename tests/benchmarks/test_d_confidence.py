"""benchmarks/d_confidence.py: per-range means of a run's logged D scalars, as a table and JSON."""
from __future__ import annotations

import json

import pytest
from test_bench_smoke import _run


def _metrics(run, records):
    run.mkdir()
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n{torn")


def test_rows_average_each_range_and_leave_out_keys_never_logged(tmp_path):
    run = tmp_path / "run"
    _metrics(run, [
        {"step": 0, "event": "start"},
        {"step": 50, "train/d_real": 0.6, "train/d_fake": 0.4, "train/loss_d": 1.0},
        {"step": 99, "train/d_real": 0.8, "train/d_fake": 0.2, "train/loss_d": 0.5},
        {"step": 100, "train/d_real": 0.99, "train/d_fake": 0.01, "train/loss_d": 0.02, "train/ada_p": 0.25},
        {"step": 150, "eval/kid": 0.1},
    ])
    out = _run(tmp_path, "d_confidence.py", str(run), "--every", "100", "--json", str(tmp_path / "d.json")).stdout
    rows = json.loads((tmp_path / "d.json").read_text())["rows"]
    assert [r["from_step"] for r in rows] == [0, 100]
    assert rows[0]["train/d_real"] == pytest.approx(0.7) and rows[0]["train/loss_d"] == 0.75
    assert "train/ada_p" not in rows[0]
    assert rows[1] == {"from_step": 100, "train/d_real": 0.99, "train/d_fake": 0.01, "train/loss_d": 0.02,
                       "train/ada_p": 0.25}
    assert "train/loss_g" not in out and "| 100 | 0.990 | 0.010 | 0.020 | 0.250 |" in out


def test_a_folder_without_metrics_is_one_error_line(tmp_path):
    import subprocess
    import sys

    from test_bench_smoke import BENCH, _env

    r = subprocess.run([sys.executable, str(BENCH / "d_confidence.py"), str(tmp_path)], capture_output=True,
                       text=True, env=_env(tmp_path))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "no metrics.jsonl" in r.stderr
