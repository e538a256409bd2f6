"""Experiments that check the seed articles' claims: ``animegen experiment NAME|all``.

    from animegen.experiments import run_experiments
    run_experiments(["latent-distances"], "exp/", minutes=1)   # → [Path("exp/latent-distances/report.md")]

Types and the registry: :mod:`~animegen.experiments.core`; the articles' numbers:
:mod:`~animegen.experiments.claims`; the report writer: :mod:`~animegen.experiments.writeout`.
"""
from animegen.experiments.core import REGISTRY, Context, Experiment, Result, Row, get
from animegen.experiments.runner import run_experiments

__all__ = ["REGISTRY", "Context", "Experiment", "Result", "Row", "get", "run_experiments"]
