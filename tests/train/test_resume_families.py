"""Bit-identical resume on the real families: N steps straight equal N/2, a resume, and N/2 more.

The toy models of ``test_resume.py`` prove the mechanism; these tiny VAE, DCGAN (BatchNorm, DiffAugment
noise; again with adaptive augmentation) and WGAN-GP (critic iterations, gradient penalty noise) configs prove
that nothing a real family keeps (buffers, optimizer state, EMA, fitted prior, RNG draws inside train_step)
is left out of the state.
"""
from __future__ import annotations

import pytest
import torch
from train_toys import random_images, state_of

from animegen.checkpoint import load_model, read_header
from animegen.config import resolve_run_config
from animegen.runs import FINAL, STATE
from animegen.train import load_run_config, train

FAMILIES = {
    "vae": ["model.widths=4,8", "model.latent_dim=8", "model.hidden=16", "model.kl_warmup_steps=3"],
    "dcgan": ["model.arch=fast", "model.g_width=4", "model.d_width=4", "model.latent_dim=8",
              "model.diffaug=translation,color", "model.d_mbstd_group=2"],
    # adaptive augmentation: p's running sums cross the resume (updates at step 4 of 6; resumed at 3)
    "dcgan-ada": ["model.arch=fast", "model.g_width=4", "model.d_width=4", "model.latent_dim=8",
                  "model.ada_target=0.6", "model.ada_kimg=0.01"],
    "wgan-gp": ["model.g_width=4", "model.d_width=4", "model.latent_dim=8", "model.n_critic=2"],
}
STEPS = 6


def config(family: str, steps: int):
    train_sets = {"steps": steps, "batch_size": 4, "threads": 1, "precision": "fp32", "log_every": 1,
                  "sample_every": 0, "checkpoint_every": 2, "eval_every": 2, "ema_decay": 0.9, "n_sample_grid": 4}
    sets = FAMILIES[family] + ["data.size=16"] + [f"train.{k}={v}" for k, v in train_sets.items()]
    return resolve_run_config(family.removesuffix("-ada"), overrides=sets)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_real_family_resumes_bit_identically(tmp_path, family):
    data = random_images(n=24, size=16)
    straight = train(config(family, STEPS), tmp_path / "a", data=data)
    half = train(config(family, STEPS // 2), tmp_path / "b", data=data)
    cfg = load_run_config(half)
    cfg.train.steps = STEPS
    assert train(cfg, tmp_path / "b", resume=half, data=data) == half

    a, b = state_of(straight / STATE), state_of(half / STATE)
    assert a.keys() == b.keys()
    assert any(k.startswith("optim/") for k in a) and any(k.startswith("rng/") for k in a)
    diff = [k for k in a if not torch.equal(a[k], b[k])]
    assert not diff, f"{family}: differs after resume: {diff[:5]}"
    fa, fb = state_of(straight / FINAL), state_of(half / FINAL)
    assert fa.keys() == fb.keys() and all(torch.equal(fa[k], fb[k]) for k in fa)
    if family == "dcgan-ada":
        assert a["model/ada.sums"][2] == 2 and "ada.p" in fa  # two steps since the update; p exported
        assert load_model(straight / FINAL).ada is not None  # the export rebuilds with its augmentation state
    ha, hb = read_header(straight / STATE), read_header(half / STATE)
    for key in ("step", "loader", "epoch", "optimizers", "rng", "best"):
        assert ha[key] == hb[key], key
    assert ha["step"] == STEPS
