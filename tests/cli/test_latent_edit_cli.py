"""`animegen interpolate | blend | perturb` end to end on tiny checkpoints: pictures decode, JSON beside them,
user mistakes are one `error:` line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from animegen.checkpoint import save_model
from animegen.cli.main import main
from animegen.imaging import save_png
from animegen.latent.codes import save_codes
from animegen.models import MODELS, DataSpec

REPO = Path(__file__).resolve().parents[2]


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def one_error_line(code, err) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "unexpected" not in err
    return lines[0]


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    torch.manual_seed(0)
    small = dict(latent_dim=6, widths=(8, 8, 8, 8))
    vae = save_model(root / "vae-1" / "final.safetensors",
                     MODELS["vae"](MODELS["vae"].config_cls(**small), DataSpec(3, 32)))
    ae = save_model(root / "ae.safetensors", MODELS["ae"](MODELS["ae"].config_cls(**small), DataSpec(3, 32)))
    gan = save_model(root / "gan.safetensors", MODELS["dcgan"](
        MODELS["dcgan"].config_cls(g_width=4, d_width=4, latent_dim=6), DataSpec(3, 32)))
    face = root / "face.png"
    save_png(np.random.default_rng(0).integers(0, 255, (48, 40, 3), dtype=np.uint8), face)  # wrong size: a note
    dirs = save_codes(root / "directions.safetensors", torch.nn.functional.normalize(torch.randn(2, 6), dim=1),
                      ["hair_hue", "mouth=smile"])
    return {"vae": vae, "ae": ae, "gan": gan, "face": face, "dirs": dirs, "run": vae.parent}


def test_interpolate_gif_from_a_run_folder(ckpts, tmp_path, capsys):
    out = tmp_path / "morph.gif"
    code, stdout, err = run_cli(["interpolate", ckpts["run"], "--from", ckpts["face"], "--to", "seed:3",
                                 "--via", "synth:4#1", "--steps", "9", "--out", out], capsys)
    assert code == 0, err
    assert stdout.split() == [str(out), str(out.with_suffix(".json"))]
    assert "note: resized 40x40 input to the model's 32x32" in err
    gif = Image.open(out)
    assert gif.n_frames == 9 and gif.size == (128, 128)  # 32 px frames, enlarged ×4
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["inputs"] == [str(ckpts["face"]), "synth:4#1", "seed:3"] and info["settings"]["steps"] == 9
    assert info["numbers"]["anchor_frames"][0] == 0 and info["numbers"]["anchor_frames"][-1] == 8
    assert len(info["numbers"]["frame_change"]) == 8 and info["notes"]


def test_interpolate_png_strip_and_compare(ckpts, tmp_path, capsys):
    out = tmp_path / "cmp.png"
    code, _, err = run_cli(["interpolate", ckpts["ae"], "--from", "synth:4#0", "--to", "synth:4#2", "--steps", "5",
                            "--slerp", "--compare", ckpts["vae"], "--out", out], capsys)
    assert code == 0, err
    h, w, _ = np.asarray(Image.open(out)).shape
    assert w > 5 * 128 and 2 * 128 < h < 3 * 128  # one labelled row of 5 frames per model
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["model"]["family"] == "ae" and info["compare"]["model"]["family"] == "vae"
    assert info["numbers"]["method"] == "slerp" and info["compare"]["numbers"]["frames"] == 5


def test_interpolate_mp4_decodes(ckpts, tmp_path, capsys):
    iio = pytest.importorskip("imageio_ffmpeg")
    out = tmp_path / "walk.mp4"
    code, _, err = run_cli(["interpolate", ckpts["gan"], "--seed", "2", "--steps", "6", "--out", out], capsys)
    assert code == 0, err
    reader = iio.read_frames(str(out))
    meta = next(reader)
    frames = list(reader)
    assert len(frames) == 6 and tuple(meta["size"]) == (128, 128)
    assert json.loads(out.with_suffix(".json").read_text())["inputs"] == ["seed:2", "seed:3"]


def test_blend_with_grid(ckpts, tmp_path, capsys):
    out = tmp_path / "mix.png"
    code, stdout, err = run_cli(["blend", ckpts["vae"], ckpts["face"], "synth:4#3", "--weights", "1,3", "--grid", "4",
                                 "--out", out], capsys)
    assert code == 0, err
    assert "note: weights 1,3 sum to 4; normalised to 0.25,0.75" in err
    assert stdout.split() == [str(out), str(out.with_suffix(".json"))]
    Image.open(out).verify()
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["numbers"]["weights"] == [0.25, 0.75] and info["numbers"]["grid_weights"][-1] == 1.0


@pytest.mark.parametrize("mode,extra,rows", [("random", [], 1), ("dims", ["--data", "synth:20"], 3),
                                             ("pca", ["--data", "synth:20"], 3), ("direction:hair_hue", None, 1)])
def test_perturb_modes(ckpts, tmp_path, capsys, mode, extra, rows):
    out = tmp_path / "p.png"
    extra = ["--directions", ckpts["dirs"]] if extra is None else extra
    code, _, err = run_cli(["perturb", ckpts["vae"], "synth:4#1", "--eps", "1.5", "--n", "3", "--mode", mode,
                            "--out", out, *extra], capsys)
    assert code == 0, err
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["numbers"]["frames"] == (4 if mode == "random" else rows * 5)
    assert info["settings"]["mode"] == mode and info["numbers"]["max_pixel_change"] > 0
    Image.open(out).verify()


def test_perturb_gan_pca_is_ganspace(ckpts, tmp_path, capsys):
    out = tmp_path / "gs.png"
    code, _, err = run_cli(["perturb", ckpts["gan"], "seed:1", "--eps", "1", "--n", "2", "--mode", "pca",
                            "--out", out], capsys)
    assert code == 0, err
    assert "GANSpace" in err and json.loads(out.with_suffix(".json").read_text())["numbers"]["rows"][0]["scale"] > 0


@pytest.mark.parametrize("argv,match", [
    (["blend", "{vae}", "seed:1", "seed:2", "--weights", "-1,2"], "negative"),
    (["blend", "{vae}", "seed:1", "seed:2", "--weights", "0.5,0.2,0.3"], "3 weight"),
    (["blend", "{vae}", "seed:1"], "at least two"),
    (["interpolate", "{vae}", "--steps", "1"], "--steps must be at least 2"),
    (["interpolate", "{vae}", "--steps", "2", "--via", "seed:5"], "cannot show 3 points"),
    (["perturb", "{vae}", "seed:1", "--eps", "0"], "--eps must be > 0"),
    (["perturb", "{vae}", "seed:1", "--eps", "-1"], "--eps must be > 0"),
    (["perturb", "{vae}", "seed:1", "--n", "0"], "--n must be at least 1"),
    (["perturb", "{vae}", "seed:1", "--mode", "wiggle"], "unknown --mode"),
    (["perturb", "{vae}", "seed:1", "--mode", "direction:nose", "--directions", "{dirs}"],
     "unknown direction 'nose'; the file has: hair_hue, mouth=smile"),
    (["perturb", "{vae}", "seed:1", "--mode", "direction"], "needs --directions"),
    (["perturb", "{vae}", "seed:1", "--mode", "pca"], "needs --data"),
    (["perturb", "{gan}", "{face}"], "--invert"),
    (["interpolate", "{gan}", "--from", "{face}", "--to", "seed:1"], "--invert"),
    (["interpolate", "{vae}", "--from", "nothere.png"], "no such image"),
    (["interpolate", "{vae}", "--out", "{vae}"], "is an input"),
    (["blend", "{vae}", "seed:1", "{face}", "--out", "{face}"], "is an input"),
    (["interpolate", "{vae}", "--out", "x.webp"], ".gif or .mp4 or .png"),
])
def test_user_errors_are_one_line(ckpts, tmp_path, capsys, argv, match):
    subs = {k: str(v) for k, v in ckpts.items()}
    argv = [a.format(**subs) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / ("o.gif" if argv[0] == "interpolate" else "o.png"))]
    code, _, err = run_cli(argv, capsys)
    assert match in one_error_line(code, err)
    assert not (tmp_path / "o.json").exists()


def test_no_traceback_in_a_real_process(ckpts, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "animegen", "blend", str(ckpts["vae"]), "seed:1", "seed:2",
                           "--weights", "1,-1", "--out", str(tmp_path / "b.png")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "b.png").exists()


def test_mnist_one_to_seven(mnist_dir, tmp_path, capsys):
    """Seed 003's morph: a 1 into a 7, from MNIST rows (the model is untrained: this checks the plumbing,
    that the first and last frames are the two digits' reconstructions)."""
    from animegen.data.mnist import read_mnist
    from animegen.latent.decoding import decode_codes

    _, labels, _ = read_mnist(mnist_dir, "test")
    one, seven = int(np.flatnonzero(labels == 1)[0]), int(np.flatnonzero(labels == 7)[0])
    torch.manual_seed(0)
    model = MODELS["vae"](MODELS["vae"].config_cls(latent_dim=4, widths=(8, 8, 8, 8)), DataSpec(1, 28))
    ckpt = save_model(tmp_path / "mnist-vae.safetensors", model)
    out = tmp_path / "one_to_seven.png"
    src = f"mnist:{mnist_dir}:test"
    code, _, err = run_cli(["interpolate", ckpt, "--from", f"{src}#{one}", "--to", f"{src}#{seven}", "--steps", "8",
                            "--out", out, "--nrow", "8"], capsys)
    assert code == 0, err
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["labels"] == [f"{src}#{one}", f"{src}#{seven}"] and info["numbers"]["frames"] == 8
    from animegen.data.sources import open_source
    from animegen.imaging import make_grid, to_tensor

    digits = to_tensor(open_source(src).images[[one, seven]])  # [2, 1, 28, 28]
    ends = decode_codes(model.eval(), model.encode(digits))
    strip = np.asarray(Image.open(out))
    first = make_grid(ends[:1], padding=0, scale=4)
    assert np.abs(strip[2 : 2 + 112, 2 : 2 + 112].astype(int) - first.astype(int)).max() <= 1


@pytest.mark.parametrize("name", ["interpolate", "blend", "perturb"])
def test_help_has_examples(name, capsys):
    code, out, _ = run_cli([name, "--help"], capsys)
    assert code == 0 and f"animegen {name} runs/" in " ".join(out.split())


def test_gan_image_with_invert_uses_the_inverter(ckpts, tmp_path, capsys, monkeypatch):
    """--invert hands image inputs to animegen.latent.invert.invert (replaced here by a stand-in that returns
    fixed codes: inversion itself is tested with its own module)."""
    import types

    calls = []

    def fake_invert(model, images):
        calls.append(tuple(images.shape))
        return types.SimpleNamespace(z=torch.zeros(len(images), model.latent_dim))

    monkeypatch.setitem(sys.modules, "animegen.latent.invert", types.SimpleNamespace(invert=fake_invert))
    out = tmp_path / "inv.png"
    code, _, err = run_cli(["blend", ckpts["gan"], ckpts["face"], "seed:1", "--invert", "--out", out], capsys)
    assert code == 0, err
    assert calls == [(1, 3, 32, 32)] and "inverted" in err
    assert json.loads(out.with_suffix(".json").read_text())["numbers"]["input_code_norms"][0] == 0


@pytest.mark.parametrize("cmd,args,suffix", [
    ("interpolate", ["--from", "seed:1", "--to", "seed:2", "--steps", "3"], ".gif"),
    ("blend", ["seed:1", "seed:2", "--weights", "1,1"], ".png"),
    ("perturb", ["seed:1", "--eps", "0.5", "--n", "2", "--mode", "random"], ".png"),
])
def test_a_rerun_replaces_its_own_outputs_but_never_a_users_file(ckpts, tmp_path, capsys, cmd, args, suffix):
    out = tmp_path / f"o{suffix}"
    argv = [cmd, ckpts["vae"], *args, "--out", out]
    for _ in range(2):  # the second run replaces the picture and JSON the first one wrote
        code, _, err = run_cli(argv, capsys)
        assert code == 0, err
    out.with_suffix(".json").write_text('{"mine": 1}\n')  # now the sidecar is the user's file
    code, _, err = run_cli(argv, capsys)
    assert "not written by animegen" in one_error_line(code, err)
    assert out.with_suffix(".json").read_text() == '{"mine": 1}\n'
