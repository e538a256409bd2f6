"""A run that trained always leaves a resumable state: a one-image dataset trains and exports, and an
exception after the first step (evaluation, export, a bug in train_step) first saves the newest
consistent state, then says how to resume; the resumed run ends where a straight run ends."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from train_toys import ToyAE, random_images, state_of, toy_config, toys  # noqa: F401 (fixture)

from animegen.checkpoint import load_model, read_header
from animegen.config import resolve_run_config
from animegen.data.sources import ImageSet
from animegen.train import train
from animegen.train import trainer as trainer_mod


@pytest.fixture(autouse=True)
def _restore_quiet():
    """``animegen -q`` sets a process-wide flag; later tests in this process must not inherit it."""
    from animegen.progress import is_quiet, set_quiet

    before = is_quiet()
    yield
    set_quiet(before)

TINY = {"widths": "4,8", "latent_dim": 8, "hidden": 16}


def real_config(family: str, steps: int = 2, **train_sets):
    sets = [f"model.{k}={v}" for k, v in TINY.items()] if family in ("ae", "vae") else []
    t = {"steps": steps, "batch_size": 4, "threads": 1, "precision": "fp32", "log_every": 1, "sample_every": 0,
         "checkpoint_every": 2, "eval_every": 2, **train_sets}
    sets += ["data.size=16"] + [f"train.{k}={v}" for k, v in t.items()]
    return resolve_run_config(family, overrides=sets)


@pytest.mark.parametrize("family", ["ae", "vae"])
def test_one_image_dataset_trains_and_exports(tmp_path, family):
    one = ImageSet(np.full((1, 16, 16, 3), 128, np.uint8), "one", "fp-one")
    run = train(real_config(family), tmp_path, data=one)
    model = load_model(run / "final.safetensors")
    assert model.fitted_prior() is None  # one training code: no covariance to fit, sampling uses N(0, I)
    assert torch.isfinite(model.sample(2, generator=torch.Generator().manual_seed(0))).all()
    assert read_header(run / "train_state.safetensors")["step"] == 2


def fail_at(monkeypatch, where: str, step: int):
    """Make ``where`` (``evaluate``: the trainer's periodic evaluation, ``export``: writing a model file,
    ``train_step``: the toy AE's update) raise at ``step``."""
    boom = RuntimeError(f"injected failure in {where}")
    if where == "train_step":
        real = ToyAE.train_step

        def step_fn(self, batch, ctx):
            if ctx.step + 1 == step:
                ctx.optimize("ae", self.decoder(self.encoder(batch)).float().pow(2).mean())  # half an update
                raise boom
            return real(self, batch, ctx)

        monkeypatch.setattr(ToyAE, "train_step", step_fn)
        return
    import animegen.train.export as export_mod

    module, name = (trainer_mod, "evaluate") if where == "evaluate" else (export_mod, "export")
    real_fn = getattr(module, name)

    def wrapped(tr, *a, **k):
        if tr.step == step:
            raise boom
        return real_fn(tr, *a, **k)

    monkeypatch.setattr(module, name, wrapped)


@pytest.mark.parametrize("where,crash_step,saved_step,ckpt_every", [
    ("evaluate", 6, 6, 4),    # between steps: the live state at step 6 is saved (the last checkpoint was 4)
    ("export", 8, 8, 4),      # the final export fails: the state at step 8 is already on disk
    ("train_step", 7, 4, 4),  # inside an update: the last good snapshot (step 4), never the half-updated weights
    ("train_step", 3, 0, 0),  # no checkpoint yet: the snapshot taken before the first step
])
@pytest.mark.usefixtures("toys")
def test_exception_after_training_leaves_a_resumable_state(tmp_path, monkeypatch, where, crash_step, saved_step,
                                                          ckpt_every):
    data = random_images()
    cfg = toy_config(steps=8, checkpoint_every=ckpt_every, eval_every=2, sample_every=0)
    straight = train(cfg, tmp_path / "straight", data=data)

    with monkeypatch.context() as m:
        fail_at(m, where, crash_step)
        with pytest.raises(RuntimeError, match="injected failure") as err:
            train(cfg, tmp_path / "crash", data=data)
    run = next((tmp_path / "crash").iterdir())
    notes = " ".join(getattr(err.value, "__notes__", []))
    assert f"continue with: animegen train --resume {run}" in notes
    assert read_header(run / "train_state.safetensors")["step"] == saved_step

    assert train(None, resume=run, data=data) == run
    a, b = state_of(straight / "train_state.safetensors"), state_of(run / "train_state.safetensors")
    diff = [k for k in a if k.startswith(("model/", "optim/", "ema/")) and not torch.equal(a[k], b[k])]
    assert not diff, diff[:5]


class Killed(SystemExit):
    """Stands for SIGKILL: nothing is saved on the way out (the trainer saves no crash state on SystemExit)."""


@pytest.mark.parametrize("minutes,on_disk", [(1e-9, 5), (0.0, None)])
@pytest.mark.usefixtures("toys")
def test_state_every_minutes_bounds_what_a_kill_loses(tmp_path, monkeypatch, minutes, on_disk):
    """With checkpoints far apart, ``train.state_every_minutes`` still writes the resumable state (here due at
    every step): a run killed in step 6 resumes from step 5 and ends where a straight run ends."""
    data = random_images()
    cfg = toy_config(steps=8, checkpoint_every=0, eval_every=0, sample_every=0, state_every_minutes=minutes)
    straight = train(cfg, tmp_path / "straight", data=data)
    real = ToyAE.train_step

    def step_fn(self, batch, ctx):
        if ctx.step + 1 == 6:
            raise Killed
        return real(self, batch, ctx)

    with monkeypatch.context() as m:
        m.setattr(ToyAE, "train_step", step_fn)
        with pytest.raises(Killed):
            train(cfg, tmp_path / "crash", data=data)
    run = next((tmp_path / "crash").iterdir())
    state = run / "train_state.safetensors"
    if on_disk is None:
        assert not state.exists() and not (run / "last.safetensors").exists()
        return
    assert read_header(state)["step"] == on_disk
    assert not (run / "last.safetensors").exists()  # the state alone: no export
    assert train(None, resume=run, data=data) == run
    a, b = state_of(straight / "train_state.safetensors"), state_of(state)
    diff = [k for k in a if k.startswith(("model/", "optim/", "ema/")) and not torch.equal(a[k], b[k])]
    assert not diff, diff[:5]


def test_cli_error_line_says_how_to_resume(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from animegen.cli.main import main

    folder = tmp_path / "one"
    folder.mkdir()
    Image.fromarray(np.full((16, 16, 3), 200, np.uint8)).save(folder / "a.png")
    fail_at(monkeypatch, "evaluate", 2)
    with pytest.raises(SystemExit) as exc:
        main(["-q", "train", "--model", "vae", "--data", str(folder), "--out", str(tmp_path / "runs"),
              *[a for k, v in TINY.items() for a in ("--set", f"model.{k}={v}")], "--set", "data.size=16",
              "--set", "train.steps=3", "--set", "train.threads=1", "--set", "train.batch_size=2",
              "--set", "train.eval_every=2", "--set", "train.checkpoint_every=0", "--set", "train.precision=fp32"])
    err = capsys.readouterr().err
    run = next((tmp_path / "runs").iterdir())
    assert exc.value.code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: unexpected RuntimeError: injected failure in evaluate")
    assert f"saved a resumable state at step 2; continue with: animegen train --resume {run}" in err
    assert read_header(run / "train_state.safetensors")["step"] == 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
