"""Every user mistake is one `error:` line and a non-zero exit: never a traceback, never "unexpected ...".

Bad values are driven through each command as a user would type them (in-process, so the suite stays
fast); a few cases also prove that nothing was written or allocated on the way to the error.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from animegen.checkpoint import read_header, read_tensors, save_model, save_tensors
from animegen.cli.main import main
from animegen.models import VAE, DataSpec, VAEConfig


@pytest.fixture(autouse=True)
def _restore_quiet():
    """``animegen -q`` sets a process-wide flag; later tests in this process must not inherit it."""
    from animegen.progress import is_quiet, set_quiet

    before = is_quiet()
    yield
    set_quiet(before)

TINY = ["--set", "model.widths=4,8", "--set", "model.latent_dim=8", "--set", "model.hidden=16", "--set", "data.size=16",
        "--set", "train.threads=1", "--set", "train.precision=fp32", "--set", "train.batch_size=4"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A folder of images, a checkpoint, a finished run and a plain folder, shared by the cases."""
    root = tmp_path_factory.mktemp("world")
    faces = root / "faces"
    faces.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(faces / f"{i}.png")
    torch.manual_seed(0)
    save_model(root / "model.safetensors", VAE(VAEConfig(widths=(4, 8), latent_dim=8, hidden=16), DataSpec(3, 16)))
    from animegen.progress import is_quiet, set_quiet

    quiet = is_quiet()
    with pytest.raises(SystemExit) as exc:
        main(["-q", "train", "--model", "vae", "--data", str(faces), "--out", str(root / "runs"), *TINY,
              "--set", "train.steps=2", "--set", "train.checkpoint_every=2"])
    set_quiet(quiet)
    assert exc.value.code == 0
    (root / "runs" / "vae-1").rename(root / "run")
    (root / "folder").mkdir()
    (root / "note.txt").write_text("not a folder")
    return root


def edited(world: Path, name: str, edit) -> Path:
    """A copy of the finished run with ``edit(run_dir)`` applied."""
    run = world / name
    if not run.exists():
        shutil.copytree(world / "run", run)
        edit(run)
    return run


def nan_weights(path: Path) -> None:
    t = read_tensors(path)
    t["decoder.out.bias"][0] = float("nan")
    save_tensors(path, t, read_header(path))


def json_edit(change):
    def edit(run: Path) -> None:
        cfg = json.loads((run / "config.json").read_text())
        change(cfg)
        (run / "config.json").write_text(json.dumps(cfg))
    return edit


CASES = {
    # train: values checked at the boundary
    "lr nan": (["train", "--model", "vae", "--data", "{faces}", "--set", "model.lr=nan"], "model.lr=nan"),
    "lr inf": (["train", "--model", "vae", "--data", "{faces}", "--set", "model.lr=inf"], "model.lr=inf"),
    "lr negative": (["train", "--model", "vae", "--data", "{faces}", "--set", "model.lr=-0.1"], "model.lr"),
    "lr zero": (["train", "--model", "vae", "--data", "{faces}", "--set", "model.lr=0"], "must be > 0"),
    "batch 0": (["train", "--model", "dcgan", "--data", "{faces}", "--set", "train.batch_size=0"], "train.batch_size"),
    "steps negative": (["train", "--model", "vae", "--data", "{faces}", "--set", "train.steps=-1"], "train.steps"),
    "budget nan": (["train", "--model", "vae", "--data", "{faces}", "--set", "train.max_cpu_minutes=nan"],
                   "train.max_cpu_minutes"),
    "size odd": (["train", "--model", "vae", "--data", "{faces}", "--set", "data.size=33"], "data.size=33"),
    "size huge": (["train", "--model", "vae", "--data", "{faces}", "--set", "data.size=100000"], "data.size"),
    "channels 2": (["train", "--model", "vae", "--data", "{faces}", "--set", "data.channels=2"], "data.channels"),
    "latent huge": (["train", "--model", "wgan-gp", "--data", "{faces}", "--set", "model.latent_dim=9999999"],
                    "model.latent_dim"),
    "width huge": (["train", "--model", "dcgan", "--data", "{faces}", "--set", "model.g_width=100000"],
                   "model.g_width"),
    "n_critic 0": (["train", "--model", "wgan", "--data", "{faces}", "--set", "model.n_critic=0"], "model.n_critic"),
    "val fraction 1": (["train", "--model", "vae", "--data", "{faces}", "--set", "data.val_fraction=1"],
                       "data.val_fraction"),
    "seed negative": (["train", "--model", "vae", "--data", "{faces}", "--set", "data.seed=-3"], "data.seed"),
    "out is a file": (["train", "--model", "vae", "--data", "{faces}", "--out", "{note}"], "is a file"),
    # train --resume: the run folder is untrusted input too
    "resume not a run": (["train", "--resume", "{folder}"], "no config.json"),
    "resume a file": (["train", "--resume", "{note}"], "not a run folder"),
    "resume broken json": (["train", "--resume", "{run:broken}"], "not valid JSON"),
    "resume json list": (["train", "--resume", "{run:list}"], "expected a JSON object"),
    "resume config nan": (["train", "--resume", "{run:nan}"], "model.lr=nan"),
    "resume config huge": (["train", "--resume", "{run:huge}"], "model.latent_dim"),
    "resume config vs state": (["train", "--resume", "{run:latent}", "--set", "train.steps=4"],
                               "model/prior_mean [8] in the file, [64]"),
    "resume nan state": (["train", "--resume", "{run:nanstate}", "--set", "train.steps=4"], "non-finite"),
    "resume damaged state": (["train", "--resume", "{run:damaged}", "--set", "train.steps=4"], "damaged"),
    "resume no state": (["train", "--resume", "{run:nostate}"], "no train_state"),
    # sample
    "sample out is a folder": (["sample", "{model}", "--out", "{folder}"], "is a folder"),
    "sample out is the input": (["sample", "{model}", "--out", "{model}"], "input"),
    "sample n 0": (["sample", "{model}", "--n", "0"], "--n"),
    "sample truncation nan": (["sample", "{model}", "--truncation", "nan"], "--truncation"),
    "sample nan weights": (["sample", "{run:nanmodel}", "--out", "{out}"], "decoder.out.bias holds 1 non-finite"),
    "sample empty folder": (["sample", "{folder}"], "no final/best/last"),
    "sample not a checkpoint": (["sample", "{note}"], "not an animegen checkpoint"),
    "sample bad prior": (["sample", "{model}", "--prior", "wide"], "--prior"),
    # evaluate: options before any slow work
    "evaluate n 1": (["evaluate", "{model}", "--n", "1"], "--n"),
    "evaluate batch 0": (["evaluate", "{model}", "--batch-size", "0"], "--batch-size"),
    "evaluate n-real negative": (["evaluate", "{model}", "--n-real", "-4"], "--n-real"),
    "evaluate k 0": (["evaluate", "{model}", "--k", "0"], "--k"),
    "evaluate out is a folder": (["evaluate", "{model}", "--out", "{folder}"], "is a folder"),
    # demo and usage mistakes
    "demo odd size": (["demo", "--size", "33", "--out", "{out}"], "--size"),
    "demo out is a file": (["demo", "--out", "{note}"], "is a file"),
    "unknown option": (["sample", "{model}", "--bogus"], "--bogus"),
    "unknown command": (["frobnicate"], "frobnicate"),
}

EDITS = {
    "broken": lambda run: (run / "config.json").write_text("{not json"),
    "list": lambda run: (run / "config.json").write_text("[1, 2]"),
    "nan": json_edit(lambda c: c["model"].update(lr="nan")),
    "huge": json_edit(lambda c: c["model"].update(latent_dim=10**9)),
    "latent": json_edit(lambda c: c["model"].update(latent_dim=64)),
    "nanstate": lambda run: nan_weights_state(run / "train_state.safetensors"),
    "damaged": lambda run: header_edit(run / "train_state.safetensors", loader=7),
    "nostate": lambda run: (run / "train_state.safetensors").unlink(),
    "nanmodel": lambda run: nan_weights(run / "final.safetensors"),
}


def nan_weights_state(path: Path) -> None:
    t = read_tensors(path)
    t["model/decoder.out.weight"].view(-1)[0] = float("inf")
    save_tensors(path, t, read_header(path))


def header_edit(path: Path, **changes) -> None:
    save_tensors(path, read_tensors(path), {**read_header(path), **changes})


@pytest.mark.parametrize("case", list(CASES))
def test_user_mistake_is_one_error_line(case, world, tmp_path, capsys):
    argv, needle = CASES[case]
    paths = {"faces": world / "faces", "model": world / "model.safetensors", "folder": world / "folder",
             "note": world / "note.txt", "out": tmp_path / "out.png"}
    args = []
    for a in argv:
        if a.startswith("{run:"):
            key = a[5:-1]
            run = edited(world, f"run-{key}", EDITS[key])
            a = str(run / "final.safetensors") if key == "nanmodel" else str(run)
        else:
            a = a.format(**{k: str(v) for k, v in paths.items()})
        args.append(a)
    with pytest.raises(SystemExit) as exc:
        main(["-q", *args, *(["--out", str(tmp_path / "runs")] if args[0] == "train" and "--out" not in args
                             and "--resume" not in args else [])])
    err = capsys.readouterr().err
    assert exc.value.code not in (0, None), err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "unexpected" not in err, err
    assert needle in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing started
    assert not (tmp_path / "out.png").exists()
