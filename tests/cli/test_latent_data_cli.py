"""`animegen invert`, `outliers`, `neighbors` end to end on tiny checkpoints; user mistakes are one line."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "latent"))
from latent_models import tiny  # noqa: E402

from animegen.checkpoint import save_model  # noqa: E402
from animegen.cli.main import main  # noqa: E402
from animegen.imaging import save_png  # noqa: E402
from animegen.latent.codes import load_codes, resolve_codes  # noqa: E402


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def one_line_error(code, err, match):
    assert code == 1 and err.startswith("error: ") and match in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    paths = {}
    for fam in ("dcgan", "ae"):
        paths[fam] = root / fam / "final.safetensors"
        save_model(paths[fam], tiny(fam))
    return paths


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMEGEN_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "imgs"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        save_png(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), src / f"img_{i}.png")  # prepared at 64 px
    return src


def test_invert_writes_codes_grid_and_json(ckpts, tmp_path, capsys):
    img = tmp_path / "me.png"
    save_png(np.random.default_rng(1).integers(0, 256, (40, 40), dtype=np.uint8), img)  # gray, another size
    out = tmp_path / "inv"
    code, stdout, err = run_cli(["invert", str(ckpts["dcgan"].parent), str(img), "data:synth:4#2", "--out", str(out),
                                 "--steps", "3", "--restarts", "2"], capsys)
    assert code == 0, err
    assert stdout.strip() == str(out) and "note: resized 40x40" in err
    z, labels, _ = load_codes(out / "codes.safetensors")
    assert z.shape == (2, 16) and labels == ["me.png", "data:synth:4#2"]
    rep = json.loads((out / "invert.json").read_text())
    assert len(rep["images"]) == 2 and rep["settings"]["restarts"] == 2 and rep["random_codes"]["pixel_mse"] > 0
    assert Image.open(out / "inversions.png").size[0] > 2 * 16
    import animegen

    again = resolve_codes(animegen.load(ckpts["dcgan"]), [f"codes:{out / 'codes.safetensors'}#1"])
    np.testing.assert_allclose(again.z[0].numpy(), z[1].numpy())  # what interpolate/blend/perturb will read


def test_outliers_writes_grid_json_and_keep_list(ckpts, folder, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = run_cli(["outliers", str(ckpts["ae"]), "--data", str(folder), "--top", "2", "--out", str(out)],
                                capsys)
    assert code == 0, err
    rep = json.loads((out / "outliers.json").read_text())
    worst = [w["name"] for w in rep["worst"]]
    keep = [ln for ln in (out / "keep.txt").read_text().splitlines() if not ln.startswith("#")]
    assert len(worst) == 2 and set(keep) == {f"img_{i}.png" for i in range(6)} - set(worst)
    assert (out / "worst.png").is_file()
    code, _, err = run_cli(["-q", "prepare", str(folder), "--keep-list", str(out / "keep.txt"), "--size", "32",
                            "--workers", "1", "--out", str(tmp_path / "clean")], capsys)
    assert code == 0, err
    kept = [f["source"] for f in json.loads((tmp_path / "clean" / "manifest.json").read_text())["files"]]
    assert sorted(kept) == sorted(keep)
    code, _, err = run_cli(["outliers", str(ckpts["ae"]), "--data", str(folder), "--threshold", "50",
                            "--out", str(tmp_path / "o2")], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "o2" / "outliers.json").read_text())["kept"] == 3


def test_neighbors_writes_png_and_json(ckpts, tmp_path, capsys):
    out = tmp_path / "nn.png"
    code, stdout, err = run_cli(["neighbors", str(ckpts["dcgan"]), "--data", "synth:8", "--n", "3", "--k", "2",
                                 "--features", "pixels", "--out", str(out)], capsys)
    assert code == 0, err
    assert stdout.split() == [str(out), str(out.with_suffix(".json"))]
    rep = json.loads(out.with_suffix(".json").read_text())
    assert len(rep["samples"]) == 3 and len(rep["samples"][0]["neighbors"]) == 2
    assert Image.open(out).size[1] > 3 * 16


@pytest.mark.parametrize("argv,match", [
    (["outliers", "{dcgan}", "--data", "synth:4", "--out", "{tmp}/o"], "--invert"),
    (["outliers", "{ae}", "--data", "{folder}", "--out", "{folder}"], "is an input"),
    (["outliers", "{ae}", "--data", "synth:4", "--threshold", "120", "--out", "{tmp}/o"], "percentile"),
    (["invert", "{dcgan}", "{tmp}/nothere.png", "--out", "{tmp}/i"], "nothere.png"),
    (["prepare", "{folder}", "--keep-list", "{tmp}/none.txt", "--out", "{tmp}/p"], "--keep-list"),
    (["invert", "{dcgan}", "{folder}/img_0.png", "--out", "{dcgan}"], "--out"),
    (["neighbors", "{dcgan}", "--data", "synth:4", "--out", "{tmp}/nn.txt"], ".png"),
    (["neighbors", "{dcgan}", "--data", "synth:4", "--features", "clip", "--out", "{tmp}/nn.png"], "--features"),
    (["neighbors", "{dcgan}", "--data", "synth:8", "--inception", "{tmp}/w.pth", "--out", "{tmp}/nn.png"], "w.pth"),
])
def test_user_mistakes_are_one_line(argv, match, ckpts, folder, tmp_path, capsys):
    subs = {"dcgan": str(ckpts["dcgan"]), "ae": str(ckpts["ae"]), "tmp": str(tmp_path), "folder": str(folder)}
    code, _, err = run_cli([a.format(**subs) for a in argv], capsys)
    one_line_error(code, err, match)


@pytest.mark.parametrize("cmd", ["invert", "outliers", "neighbors"])
def test_help_has_examples(cmd, capsys):
    code, out, _ = run_cli([cmd, "--help"], capsys)
    assert code == 0 and "Examples" in out and f"animegen {cmd}" in out
