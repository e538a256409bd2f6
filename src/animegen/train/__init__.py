"""The generic trainer (it knows no model), EMA, resumable state and data-parallel helpers.

    from animegen.config import resolve_run_config
    from animegen.train import train
    run_dir = train(resolve_run_config("vae", overrides=["train.steps=2000"]), "runs")
    run_dir = train(None, resume=run_dir)          # continue exactly where it stopped
"""
from animegen.train.context import Divergence, TrainContext
from animegen.train.trainer import Trainer, TrainingDiverged, load_run_config, train

__all__ = ["Divergence", "TrainContext", "Trainer", "TrainingDiverged", "load_run_config", "train"]
