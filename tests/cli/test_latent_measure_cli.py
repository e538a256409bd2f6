"""`animegen directions` and `animegen latent-stats`: outputs, tag CSVs, a GAN with a probe, one-line errors."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_toys import ToyGAN, ToyGANConfig, toys  # noqa: E402,F401

from animegen.checkpoint import save_model  # noqa: E402
from animegen.cli.main import main  # noqa: E402
from animegen.latent.codes import load_codes  # noqa: E402
from animegen.latent.probe import label_columns, save_probe, train_image_probe  # noqa: E402
from animegen.models import MODELS, DataSpec  # noqa: E402


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    out = {}
    for fam in ("vae", "ae"):
        m = MODELS[fam](MODELS[fam].config_cls(latent_dim=6, widths=(8, 8, 8, 8)), DataSpec(3, 32))
        out[fam] = save_model(d / f"{fam}-1" / "final.safetensors", m)
    return out


def test_directions_writes_codes_file_json_and_grid(ckpts, tmp_path, capsys):
    code, out, err = run_cli(["-q", "directions", str(ckpts["vae"].parent), "--data", "synth:60",
                              "--out", str(tmp_path / "d"), "--n", "60", "--faces", "2"], capsys)
    assert code == 0, err
    assert out.strip() == str(tmp_path / "d")
    vec, names, header = load_codes(tmp_path / "d" / "directions.safetensors")
    meta = json.loads((tmp_path / "d" / "directions.json").read_text())
    assert vec.shape == (len(names), 6) and "hair_hue=red" in names and "hair_lightness" in names
    assert header["extra"]["kind"] == "directions" and meta["n"] == 60
    accs = [r["probe_balanced_accuracy"] for r in meta["directions"]]
    assert all(0 <= a <= 1 for a in accs if a == a)  # NaN where a held-out side is empty
    assert (tmp_path / "d" / "directions.png").stat().st_size > 1000


def test_directions_with_tag_csv(ckpts, tmp_path, capsys):
    rows = ["filename,smile"] + [f"{i:06d}.png,{i % 2}" for i in range(40)] + ["missing.png,1"]
    (tmp_path / "tags.csv").write_text("\n".join(rows) + "\n")
    code, _, err = run_cli(["directions", str(ckpts["ae"]), "--data", "synth:40", "--labels",
                            str(tmp_path / "tags.csv"), "--out", str(tmp_path / "d"), "--n", "40"], capsys)
    assert code == 0, err
    assert "40 rows matched, 1 unmatched (e.g. missing.png)" in err
    meta = json.loads((tmp_path / "d" / "directions.json").read_text())
    assert [r["name"] for r in meta["directions"]] == ["smile"]
    assert meta["labels"]["unmatched_examples"] == ["missing.png"]


def test_directions_for_a_gan_use_the_image_probe(toys, tmp_path, capsys):  # noqa: F811
    from animegen.data.synthetic import render_faces

    im, lab = render_faces(64, 16, 7, workers=1)
    probe, rep = train_image_probe(im, label_columns(lab), epochs=1)
    save_probe(tmp_path / "probe.safetensors", probe, rep)
    torch.manual_seed(0)
    gan = save_model(tmp_path / "gan.safetensors", ToyGAN(ToyGANConfig(), DataSpec(3, 16)))
    code, _, err = run_cli(["directions", str(gan), "--probe", str(tmp_path / "probe.safetensors"), "--n", "48",
                            "--effects", "--out", str(tmp_path / "g")], capsys)
    assert code == 0, err
    meta = json.loads((tmp_path / "g" / "directions.json").read_text())
    assert "InterFaceGAN" in meta["codes"] and len(meta["directions"]) > 0
    eff = json.loads((tmp_path / "g" / "effects.json").read_text())
    assert eff["directions"][:-1] == [r["name"] for r in meta["directions"]] and eff["directions"][-1] == "random#0"
    assert len(eff["attributes"]) == len(probe.config.targets) and meta["effects"] == "effects.json"


def test_latent_stats_compare(ckpts, tmp_path, capsys):
    code, out, err = run_cli(["-q", "latent-stats", str(ckpts["vae"]), "--data", "synth:40", "--n", "30",
                              "--pairs", "10", "--compare", str(ckpts["ae"]), "--out", str(tmp_path / "s")], capsys)
    assert code == 0, err
    s = json.loads(Path(out.strip()).read_text())
    assert [m["name"] for m in s["models"]] == ["vae", "ae"] and "kl" in s["models"][0] and "kl" not in s["models"][1]
    assert s["table"][0]["quantity"] == "mean std" and set(s["table"][0]) == {"quantity", "vae", "ae"}
    assert s["color_by"] == "hair_hue"
    for f in ("histograms.png", "distances.png", "pca.png"):
        assert (tmp_path / "s" / f).stat().st_size > 1000


def _one_line_error(code, err, match):
    assert code == 1 and err.startswith("error: ") and match in err
    assert "Traceback" not in err and "unexpected" not in err


def test_gan_to_latent_stats_is_one_line(toys, tmp_path, capsys):  # noqa: F811
    gan = save_model(tmp_path / "gan.safetensors", ToyGAN(ToyGANConfig(), DataSpec(3, 16)))
    code, _, err = run_cli(["latent-stats", str(gan), "--data", "synth:8", "--out", str(tmp_path / "s")], capsys)
    _one_line_error(code, err, "needs an encoder")


def test_unknown_csv_column_format_is_one_line(ckpts, tmp_path, capsys):
    (tmp_path / "t.csv").write_text("filename,t\n000001.png,1\n000002.png,blue\n000003.png,0.5\n")
    code, _, err = run_cli(["directions", str(ckpts["vae"]), "--data", "synth:8", "--labels", str(tmp_path / "t.csv"),
                            "--out", str(tmp_path / "d")], capsys)
    _one_line_error(code, err, "mixes numbers and words")


@pytest.mark.parametrize("cmd", ["directions", "latent-stats"])
def test_out_that_is_a_file_is_one_line(ckpts, tmp_path, capsys, cmd):
    (tmp_path / "f.txt").write_text("x")
    code, _, err = run_cli([cmd, str(ckpts["vae"]), "--data", "synth:8", "--out", str(tmp_path / "f.txt")], capsys)
    _one_line_error(code, err, "is a file")
    assert (tmp_path / "f.txt").read_text() == "x"


def test_unknown_color_by_lists_the_labels(ckpts, tmp_path, capsys):
    code, _, err = run_cli(["latent-stats", str(ckpts["vae"]), "--data", "synth:12", "--n", "12", "--pairs", "4",
                            "--color-by", "nose", "--out", str(tmp_path / "s")], capsys)
    _one_line_error(code, err, "hair_hue")
