"""train.export_priors: periodic exports of a VAE carry only the fitted Gaussian; final, Ctrl-C and best get the
mixture and the second stage (best's own weights, step and metadata kept); ``always`` fits them at every export.
train.prior_fit_codes: the full exports fit to the training images and their mirror images, up to that many codes.
``train --export-only``: final and best exported again from the saved state with the current settings."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from train_toys import random_images

from animegen.checkpoint import load_model, read_header
from animegen.config import DataConfig, RunConfig, TrainConfig
from animegen.errors import CheckpointError
from animegen.models import VAEConfig, vae
from animegen.train import evaluation, train
from animegen.train.export import spread


def vae_config(**train_kw) -> RunConfig:
    t = dict(steps=6, batch_size=8, precision="fp32", log_every=2, sample_every=0, checkpoint_every=2, eval_every=2,
             keep_checkpoints=0, ema_decay=0.0, threads=1, device="cpu")
    t.update(train_kw)
    model = VAEConfig(widths=(4, 8), latent_dim=4, prior_components=2, prior_stage2=8)
    return RunConfig(family="vae", name="vae", data=DataConfig(source="unused", size=16, channels=3, val_fraction=0.2),
                     model=model, train=TrainConfig(**t))


def fitted(path) -> tuple[bool, bool, bool]:
    """(Gaussian, mixture, second stage) fitted in the checkpoint at ``path``."""
    m = load_model(path)
    return m.fitted_prior() is not None, m.mixture_prior() is not None, m.stage2_prior() is not None


@pytest.fixture
def best_at_step_2(monkeypatch):
    """The validation loss is lowest at step 2, so best.safetensors comes from an earlier step than final."""
    monkeypatch.setattr(evaluation, "validation_scalars", lambda tr: {"nelbo_per_image": float(abs(tr.step - 2))})


def test_periodic_exports_defer_the_costly_priors_to_the_end(tmp_path, best_at_step_2):
    run = train(vae_config(), tmp_path, data=random_images())
    assert fitted(run / "step-000002.safetensors") == (True, False, False)
    assert fitted(run / "step-000004.safetensors") == (True, False, False)
    assert fitted(run / "final.safetensors") == (True, True, True)
    assert fitted(run / "last.safetensors") == (True, True, True)  # rewritten with final
    best_head = read_header(run / "best.safetensors")
    assert best_head["step"] == 2 and best_head["extra"]["best"]["step"] == 2 and best_head["extra"]["kind"] == "best"
    assert fitted(run / "best.safetensors") == (True, True, True)
    best, step2 = load_model(run / "best.safetensors"), load_model(run / "step-000002.safetensors")
    weights = [k for k, v in step2.state_dict().items() if k.startswith(("encoder", "decoder"))]
    assert weights and all(torch.equal(best.state_dict()[k], step2.state_dict()[k]) for k in weights)
    n_train = int(step2.prior_count)  # the periodic export: every (unflipped) training image of this tiny set
    assert int(best.prior_count) == int(best.gmm_count) == 2 * n_train  # refitted with the mirror images too
    with pytest.raises(CheckpointError, match="export_priors=always"):
        step2.sample(2, prior="gmm")


def test_best_at_the_final_step_shares_the_final_fit(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluation, "validation_scalars", lambda tr: {"nelbo_per_image": -float(tr.step)})
    fits = []
    real_fit = vae.fit_stage2
    monkeypatch.setattr(vae, "fit_stage2", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    run = train(vae_config(), tmp_path, data=random_images())
    head = read_header(run / "best.safetensors")
    assert head["step"] == head["extra"]["best"]["step"] == 6
    assert fitted(run / "best.safetensors") == (True, True, True)
    assert len(fits) == 1  # one costly fit in the whole run: final, last and best written from it


def test_always_fits_every_export(tmp_path, best_at_step_2):
    run = train(vae_config(export_priors="always"), tmp_path, data=random_images())
    for name in ("step-000002", "step-000004", "best", "final"):
        assert fitted(run / f"{name}.safetensors") == (True, True, True), name


N_TRAIN = 38  # random_images(): 48 images, 10 held out (val_fraction 0.2)


@pytest.mark.parametrize("hflip, cap, codes",
                         [(True, 0, 2 * N_TRAIN), (False, 0, N_TRAIN), (True, 10, 10), (False, 10, 10)])
def test_full_exports_fit_the_images_and_their_mirrors_up_to_the_cap(tmp_path, hflip, cap, codes):
    cfg = vae_config(steps=2, checkpoint_every=1, prior_fit_codes=cap)
    cfg.data.hflip = hflip
    run = train(cfg, tmp_path, data=random_images())
    assert int(load_model(run / "step-000001.safetensors").prior_count) == N_TRAIN  # periodic: the unflipped images
    final = load_model(run / "final.safetensors")
    assert int(final.prior_count) == int(final.gmm_count) == int(final.stage2_count) == codes


def test_export_only_refits_final_and_best_and_leaves_the_state(tmp_path, best_at_step_2):
    from animegen.runs import read_metrics
    from animegen.train import load_run_config

    data = random_images()
    run = train(vae_config(prior_fit_codes=4), tmp_path, data=data)
    state = (run / "train_state.safetensors").read_bytes()
    before = load_model(run / "final.safetensors")
    assert int(before.prior_count) == int(before.gmm_count) == 4
    cfg = load_run_config(run)
    cfg.train.prior_fit_codes = 0  # every training image and its mirror
    assert train(cfg, resume=run, data=data, export_only=True) == run

    assert (run / "train_state.safetensors").read_bytes() == state  # no step, no new budget record
    final, best = load_model(run / "final.safetensors"), load_model(run / "best.safetensors")
    n_codes = 2 * int(load_model(run / "step-000002.safetensors").prior_count)  # periodic: unflipped images
    assert int(final.prior_count) == int(final.gmm_count) == n_codes > 4
    assert int(best.prior_count) == int(best.gmm_count) == n_codes
    assert read_header(run / "final.safetensors")["step"] == 6 and read_header(run / "best.safetensors")["step"] == 2
    weights = [k for k in before.state_dict() if k.startswith(("encoder", "decoder"))]
    assert weights and all(torch.equal(before.state_dict()[k], final.state_dict()[k]) for k in weights)
    assert [r["event"] for r in read_metrics(run) if r.get("event")][-2:] == ["resume", "export"]


def test_spread_takes_evenly_spaced_entries():
    idx = np.arange(100, 110)
    assert spread(idx, 4).tolist() == [100, 103, 106, 109]
    assert spread(idx, 0) is idx and spread(idx, 10) is idx and spread(idx, 99) is idx
