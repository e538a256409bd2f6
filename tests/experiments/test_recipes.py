"""The experiments' face recipes are the shipped configs (without the fitted priors): they cannot drift apart."""
from __future__ import annotations

from pathlib import Path

import pytest

from animegen.config import resolve_run_config, to_dict
from animegen.experiments import recipes

REPO = Path(__file__).resolve().parents[2]
PRIORS = ("prior_components", "prior_covariance", "prior_stage2")


@pytest.mark.parametrize("recipe, config", [
    (recipes.VAE_FACES, "configs/vae-faces.toml"),
    (recipes.VAEGAN_FACES, "configs/vaegan-faces.toml"),
])
def test_face_recipe_matches_its_config_except_the_priors(recipe, config):
    shipped_cfg = resolve_run_config(config_path=REPO / config)
    ours_cfg = resolve_run_config(recipe.family, overrides=list(recipe.overrides))
    shipped, ours = to_dict(shipped_cfg.model), to_dict(ours_cfg.model)
    differ = {k: (shipped[k], ours[k]) for k in shipped if k not in PRIORS and shipped[k] != ours[k]}
    assert not differ, f"{recipe.name} differs from {config} in {differ}"
    assert shipped_cfg.train.batch_size == ours_cfg.train.batch_size
