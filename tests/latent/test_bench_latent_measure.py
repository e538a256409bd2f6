"""benchmarks/latent_measure.py --smoke runs end to end on tiny untrained models and writes its results."""
import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_latent_measure_smoke(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("latent_measure", REPO / "benchmarks" / "latent_measure.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(["--smoke", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "latent_measure.json").read_text())
    assert saved["smoke"] and saved["n"] == 120 and len(saved["stats"]) == 2
    eff = saved["effects"]
    assert len(eff["matrix"]) == len(eff["directions"]) and eff["directions"][-1] == "random#0"
    assert all(len(r) == len(eff["attributes"]) for r in eff["matrix"])
    assert [r["quantity"] for r in saved["table"]][:3] == ["mean std", "mean norm", "active units"]
    assert (tmp_path / "latent_measure_pca.png").is_file() and (tmp_path / "latent_measure_directions.png").is_file()
    assert "| quantity | AE | VAE |" in capsys.readouterr().out and res["n"] == 120
