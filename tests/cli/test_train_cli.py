"""`animegen train`: options, errors as one line, resume, and every real family end to end."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_toys import BUDGET_STEPS, random_images, step_clock, toys  # noqa: E402,F401

from animegen.checkpoint import load_model, read_header  # noqa: E402
from animegen.cli.main import main  # noqa: E402
from animegen.models import MODELS  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TOY_SETS = ["--set", "data.size=16", "--set", "train.precision=fp32", "--set", "train.threads=1"]


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_resume_finishes_a_stopped_budget_unless_a_new_one_is_set(tmp_path, capsys, toys, random_source,
                                                                  step_clock):
    step_clock["stop_at"] = 8  # Ctrl-C after step 8 of a 20-step (20 CPU-second) budget
    code, _, err = run_cli(["train", "--model", "toy-ae", "--data", "random:40", "--out", str(tmp_path), *TOY_SETS,
                            "--set", f"train.max_cpu_minutes={BUDGET_STEPS / 60}", "--set", "train.steps=10000",
                            "--no-report"], capsys)
    assert code == 130, err
    run = tmp_path / "toy-ae-1"
    step_clock["stop_at"] = -1
    code, _, err = run_cli(["train", "--resume", str(run), "--no-report"], capsys)
    assert code == 0 and "finishing the time budget it was stopped in (0.1 of 0.333333 CPU-minutes spent)" in err
    assert read_header(run / "final.safetensors")["step"] == BUDGET_STEPS
    step_clock["stop_at"] = BUDGET_STEPS + 2  # stopped again, then given a new budget of 3 steps
    assert run_cli(["train", "--resume", str(run), "--no-report"], capsys)[0] == 130
    step_clock["stop_at"] = -1
    code, _, err = run_cli(["train", "--resume", str(run), "--set", "train.max_cpu_minutes=0.05", "--no-report"],
                           capsys)
    assert code == 0 and "finishing the time budget" not in err
    assert read_header(run / "final.safetensors")["step"] == BUDGET_STEPS + 2 + 3


@pytest.fixture
def random_source(monkeypatch):
    """``--data random:N`` → N random 16 px images (no dataset needed)."""
    import animegen.data.sources as sources

    real = sources.open_source

    def fake(spec, size=None, channels=None, quiet=False):
        if str(spec).startswith("random:"):
            return random_images(int(str(spec).split(":")[1]), size=size or 16, channels=channels or 3)
        return real(spec, size=size, channels=channels, quiet=quiet)

    monkeypatch.setattr(sources, "open_source", fake)


def test_help_shows_examples(capsys):
    code, out, _ = run_cli(["train", "--help"], capsys)
    assert code == 0
    for text in ("--model", "--data", "--resume", "--dry-run", "--set", "Examples", "torchrun", "train.lr_decay"):
        assert text in out
    flat = " ".join(out.replace("│", " ").split())
    assert all(f" {family}," in flat or f" {family}." in flat for family in MODELS)  # --model names every family


def test_dry_run_prints_the_run_folder_then_resume_says_so(tmp_path, capsys, toys, random_source):
    code, out, err = run_cli(["train", "--model", "toy-ae", "--data", "random:40", "--out", str(tmp_path),
                              "--name", "smoke", *TOY_SETS, "--dry-run"], capsys)
    assert code == 0, err
    run = Path(out.strip().splitlines()[-1])
    assert run == tmp_path / "smoke-1" and (run / "final.safetensors").exists()
    assert "done: step 2/2" in err
    code, out, err = run_cli(["train", "--resume", str(run), "--set", "train.steps=4"], capsys)
    assert code == 0, err
    assert f"resuming {run} from step 2" in err
    assert read_header(run / "final.safetensors")["step"] == 4
    assert Path(out.strip()) == run


@pytest.mark.parametrize("argv,message", [
    (["train"], "say what to train"),
    (["train", "--model", "nope", "--data", "random:8"], "unknown model family 'nope'"),
    (["train", "--model", "toy-ae", "--set", "train.stepz=3"], "unknown setting 'train.stepz'"),
    (["train", "--resume", "somewhere", "--model", "toy-ae"], "--resume continues a run"),
    (["train", "--resume", "/nonexistent/run"], "not a run folder"),
    (["train", "--model", "toy-ae", "--data", "random:8", "--export-only"], "--export-only exports a run's saved"),
])
def test_user_errors_are_one_line(argv, message, capsys, toys):
    code, out, err = run_cli(argv, capsys)
    assert code == 1
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_divergence_stop_is_a_clear_error(tmp_path, capsys, toys, random_source):
    code, _, err = run_cli(["train", "--model", "toy-ae", "--data", "random:40", "--out", str(tmp_path), *TOY_SETS,
                            "--set", "model.nan_at=1", "--set", "model.nan_always=true",
                            "--set", "train.max_rollbacks=1", "--set", "train.steps=5"], capsys)
    assert code == 1
    assert "error: training diverged" in err and "Traceback" not in err


# ---------------------------------------------------------------------------- real families

FAMILY_SETS = {
    "ae": ["model.widths=[8,16,32]", "model.latent_dim=8"],
    "vae": ["model.widths=[8,16,32]", "model.latent_dim=8"],
    "dcgan": ["model.g_width=4", "model.d_width=4"],
    "wgan": ["model.g_width=4", "model.d_width=4", "model.n_critic=2"],
    "wgan-gp": ["model.g_width=4", "model.d_width=4", "model.n_critic=2"],
}


def _family_argv(family: str, out: Path) -> list[str]:
    argv = ["-q", "train", "--model", family, "--data", "synth:16", "--out", str(out), "--dry-run",
            "--set", "data.size=32", "--set", "train.threads=1"]
    for s in FAMILY_SETS[family]:
        argv += ["--set", s]
    return argv


@pytest.mark.parametrize("family", sorted(FAMILY_SETS))
def test_every_family_trains_end_to_end(family, tmp_path, capsys):
    if family not in MODELS:
        pytest.skip(f"model family {family} not registered")
    pytest.importorskip("animegen.data.synthetic")
    code, out, err = run_cli(_family_argv(family, tmp_path), capsys)
    assert code == 0, err
    run = Path(out.strip().splitlines()[-1])
    model = load_model(run / "final.safetensors")
    assert model.family == family and read_header(run / "final.safetensors")["step"] == 2
    assert (run / "samples" / "step-000002.png").exists()
    assert (run / "recon" / "step-000002.png").exists() == bool(model.has_encoder)
    assert (run / "train_state.safetensors").exists()
    code, out, err = run_cli(["sample", str(run), "--n", "4", "--out", str(tmp_path / "g.png")], capsys)
    assert code == 0 and (tmp_path / "g.png").exists(), err
    # every export of an encoder model carries the Gaussian fitted to its training codes
    assert (model.fitted_prior() is not None) == bool(model.has_encoder)
    code, out, err = run_cli(["sample", str(run), "--n", "4", "--prior", "fitted", "--out", str(tmp_path / "f.png")],
                             capsys)
    if model.has_encoder:
        assert code == 0 and (tmp_path / "f.png").exists(), err
    else:
        assert code == 1 and "no fitted prior" in err and "Traceback" not in err


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(tmp_path):
    """`torchrun --nproc_per_node 2 -m animegen train ...` (gloo on CPU): one run folder, rank 0 writes."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None or "ae" not in MODELS:
        pytest.skip("torchrun or the ae family is not available")
    pytest.importorskip("animegen.data.synthetic")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO / "src"))
    argv = _family_argv("ae", tmp_path)
    proc = subprocess.Popen([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "animegen", *argv],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:  # on a timeout, leave no orphaned workers: torchrun stops its workers on SIGTERM (they run in
        if proc.poll() is None:  # sessions of their own, so killing torchrun's group would not reach them)
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert proc.returncode == 0, f"files written: {files}\nstderr head:\n{stderr[:2000]}\n...\n{stderr[-3000:]}"
    runs = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(runs) == 1 and (runs[0] / "final.safetensors").exists()
    assert stdout.split() == [str(runs[0])]  # printed once, by rank 0
    assert '"world_size": 2' in (runs[0] / "metrics.jsonl").read_text()
