"""`animegen compare`: rows from run folders, training stability from metrics.jsonl, md/csv/json output."""
from __future__ import annotations

import json
import math

import pytest

from animegen.metrics.compare import collect, compare, stability, to_csv, to_markdown


def _run(tmp_path, name, fid, losses, rollbacks=0, family="vae"):
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"family": family, "data": {"source": "synth:100"}}))
    recs = [{"step": i, "loss": v} for i, v in enumerate(losses)]
    if rollbacks:
        recs.append({"step": len(losses), "event": "rollback"} )
        recs.append({"step": len(losses), "rollbacks": rollbacks})
    (d / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n{\"torn")
    (d / "metrics.json").write_text(json.dumps({
        "fid": fid, "kid": 0.05, "kid_std": 0.001, "precision": 0.6, "recall": 0.3, "is": None,
        "sharpness": {"laplacian_var": 120.0, "laplacian_var_real": 300.0},
        "diversity": {"ratio": 0.8}, "model": {"family": family, "step": 1000},
        "protocol": {"n_generated": 2000, "n_real": 5000, "weights_sha1": "abc", "real_fingerprint": "fp"}}))
    return d


def test_stability_numbers():
    recs = [{"step": i, "loss_d": 1.0, "loss_g": float(i % 2)} for i in range(8)] + [{"step": 8, "loss_g": "nan"}]
    s = stability(recs)
    # last 25 % of loss_g: [0, 1] -> std 0.7071 / mean 0.5
    assert s["loss_cv_by_key"]["loss_d"] == 0.0
    assert s["loss_cv"] == pytest.approx(math.sqrt(0.5) / 0.5)
    assert s["nonfinite"] == 1 and s["steps"] == 8 and s["rollbacks"] == 0


def test_rows_and_outputs(tmp_path):
    a = _run(tmp_path, "vae-1", 80.0, [1.0, 0.9, 0.8, 0.8])
    b = _run(tmp_path, "dcgan-1", 60.0, [1, 3, 0.5, 2.5], rollbacks=2, family="dcgan")
    rows, warnings = compare([a, b / "metrics.json"])
    assert [r["run"] for r in rows] == ["vae-1", "dcgan-1"] and not warnings
    assert rows[1]["rollbacks"] == 2 and rows[1]["family"] == "dcgan" and rows[0]["fid"] == 80.0
    assert rows[0]["loss_cv"] < rows[1]["loss_cv"]
    md = to_markdown(rows)
    assert md.startswith("| run |") and "vae-1" in md and "80.00" in md
    csv_text = to_csv(rows)
    assert csv_text.splitlines()[0].startswith("run,family,step,fid,kid")


def test_mismatched_protocols_warn(tmp_path):
    a = _run(tmp_path, "a-1", 10.0, [1, 1])
    b = _run(tmp_path, "b-1", 12.0, [1, 1])
    m = json.loads((b / "metrics.json").read_text())
    m["protocol"]["n_generated"] = 500
    (b / "metrics.json").write_text(json.dumps(m))
    _, warnings = compare([a, b])
    assert warnings and "generated" in warnings[0]


def test_empty_folder_is_a_clear_error(tmp_path):
    from animegen.errors import AnimegenError

    (tmp_path / "empty").mkdir()
    with pytest.raises(AnimegenError, match="animegen evaluate"):
        collect(tmp_path / "empty")


def test_compare_cli_writes_three_files(tmp_path, monkeypatch, capsys):
    from animegen.cli.main import main

    a = _run(tmp_path, "vae-1", 80.0, [1.0, 0.9])
    b = _run(tmp_path, "gan-1", 60.0, [1.0, 2.0])
    out = tmp_path / "report" / "table"
    with pytest.raises(SystemExit) as e:
        main(["compare", str(a), str(b), "--out", str(out)])
    assert e.value.code == 0
    for ext in ("md", "csv", "json"):
        assert (tmp_path / "report" / f"table.{ext}").is_file()
    assert "vae-1" in capsys.readouterr().out
