"""The experiment runner's types: verdict rows, results, the run context (budgets, shared training runs) and the
registry of experiments.

An experiment is a module of :mod:`animegen.experiments` with a function ``run(ctx: Context) -> Result``, listed
once in :data:`REGISTRY` (name → seed article, title, module, default minutes). It trains what it needs through
:meth:`Context.train` (cached per key, so ``experiment all`` trains a shared model once), measures, and returns
rows of a verdict table plus numbers and images; :mod:`animegen.experiments.writeout` writes the report section.

    ctx = Context(out=Path("exp"), minutes=0.2)
    result = get("latent-distances").run(ctx)
"""
from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from animegen.errors import AnimegenError

Verdict = Literal["reproduced", "not reproduced", "differs"]
VERDICTS: tuple[str, ...] = ("reproduced", "not reproduced", "differs")


class ExperimentError(AnimegenError):
    """A user mistake with the experiment command (unknown name, bad budget, bad --run)."""


@dataclass(frozen=True)
class Row:
    """One line of a verdict table: the article's claim, its number, ours, the setup, the verdict and why."""

    claim: str
    article: str
    ours: str
    setup: str
    verdict: Verdict
    why: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass
class Result:
    """What an experiment found: the verdict rows, the numbers (JSON), images {caption: path}, notes."""

    rows: list[Row]
    numbers: dict[str, Any] = field(default_factory=dict)
    images: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Context:
    """Where and how an experiment runs.

    ``minutes`` scales the experiment's default budget (``scale = minutes / default_minutes``; None: 1);
    ``runs`` is the folder of training runs shared by the experiments of one invocation (default
    ``out/runs``); ``reuse`` maps a run key to a run folder or checkpoint given with ``--run KEY=PATH``;
    ``max_steps`` caps each training run (smoke tests).
    """

    out: Path
    data: str | None = None
    minutes: float | None = None
    threads: int = 1
    seed: int = 0
    runs: Path | None = None
    reuse: dict[str, Path] = field(default_factory=dict)
    max_steps: int | None = None
    scale: float = 1.0
    trained: dict[str, Path] = field(default_factory=dict)
    """Run keys trained (or reused) so far: key → run folder or checkpoint."""
    section: str = ""
    """The running experiment's name: its files go to ``out/section/``."""
    inception: str | None = None
    """``--inception PATH``: Inception weights for FID/KID (default: the installed ones); the Inception Score
    needs a file with the 1008-way classifier."""

    @property
    def runs_dir(self) -> Path:
        return self.runs or self.out / "runs"

    def budget(self, cpu_minutes: float) -> float:
        """A default process-CPU budget in minutes, scaled by ``--minutes``."""
        return cpu_minutes * self.scale

    def count(self, n: int, low: int = 16) -> int:
        """A default count (faces, pairs) scaled by ``--minutes``, at least ``low``."""
        return max(low, int(round(n * min(1.0, self.scale))))

    @property
    def section_dir(self) -> Path:
        return self.out / self.section

    def file(self, name: str) -> Path:
        """A path for an output file of the running experiment (checked: never over a file we did not write)."""
        from animegen.fsutil import check_output

        p = check_output(self.section_dir / name, kind="file")
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def train(self, key: str, recipe: str, cpu_minutes: float, overrides: list[str] | None = None,
              data: str | None = None, steps: int | None = None) -> Path:
        """The run folder of training run ``key``: given with ``--run KEY=PATH``, trained earlier by this
        invocation, found in the runs folder with the same resolved config, or trained now.

        ``recipe``: a model family (``vae``) or a TOML recipe path; ``cpu_minutes`` is the process-CPU budget
        (already scaled, see :meth:`budget`); ``overrides`` are ``section.key=value`` settings; ``data`` the
        training source (default: ``--data``, else ``synth:20000``). One thread unless ``--threads``.
        """
        if key in self.reuse:
            return self.reuse[key]
        if key in self.trained:
            return self.trained[key]
        from animegen.config import resolve_run_config, to_dict
        from animegen.progress import info
        from animegen.train.trainer import train

        is_path = recipe.endswith(".toml")
        cfg = resolve_run_config(None if is_path else recipe, recipe if is_path else None, list(overrides or []),
                                 data or self.data or "synth:20000")
        t = cfg.train
        t.threads, t.max_cpu_minutes, t.max_minutes, t.seed = self.threads, max(cpu_minutes, 1e-3), 0.0, self.seed
        t.steps, t.epochs = max(1, int(steps)) if steps else 10_000_000, 0.0  # steps: e.g. an article's epochs
        if self.max_steps:
            t.steps = min(t.steps, self.max_steps)
            t.batch_size = min(t.batch_size, 16)
            t.log_every = t.sample_every = t.eval_every = max(1, self.max_steps // 2)
            t.checkpoint_every = self.max_steps
        cfg.name = key
        digest = hashlib.sha256(json.dumps(to_dict(cfg), sort_keys=True, default=str).encode()).hexdigest()[:16]
        found = _indexed_run(self.runs_dir, key, digest)
        if found is not None:
            info(f"run {key}: reusing {found}")
            self.trained[key] = found
            return found
        info(f"run {key}: training {cfg.family} for {t.max_cpu_minutes:.3g} CPU-min on {cfg.data.source}")
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        run_dir = train(cfg, self.runs_dir)
        _index_run(self.runs_dir, key, digest, run_dir)
        self.trained[key] = run_dir
        return run_dir


INDEX = "experiment-runs.json"


def _indexed_run(root: Path, key: str, digest: str) -> Path | None:
    from animegen.runs import preferred_checkpoint

    try:
        entry = json.loads((root / INDEX).read_text()).get(key, {})
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(entry, dict) or entry.get("config") != digest:
        return None
    run = root / str(entry.get("run", ""))
    try:
        preferred_checkpoint(run)
    except AnimegenError:
        return None
    return run


def _index_run(root: Path, key: str, digest: str, run_dir: Path) -> None:
    from animegen.fsutil import atomic_write_json

    try:
        index = json.loads((root / INDEX).read_text())
    except (OSError, ValueError):
        index = {}
    if not isinstance(index, dict):
        index = {}
    index[key] = {"config": digest, "run": Path(run_dir).name}
    atomic_write_json(root / INDEX, index, mark=True)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: ``module`` (under ``animegen.experiments``) defines ``run(ctx) -> Result``."""

    name: str
    seed: str  # the seed article, e.g. "000"
    title: str  # one line for --help
    module: str
    default_minutes: float  # minutes at the default budget run alone (process CPU, 1 thread; measured, rounded up)

    def function(self) -> Callable[[Context], Result]:
        try:
            mod = importlib.import_module(f"animegen.experiments.{self.module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"animegen.experiments.{self.module}":
                raise
            raise ExperimentError(f"experiment {self.name} is not part of this build "
                                  f"(animegen.experiments.{self.module} is missing)") from None
        return mod.run

    def available(self) -> bool:
        import sys
        from importlib.util import find_spec

        name = f"animegen.experiments.{self.module}"
        return name in sys.modules or find_spec(name) is not None

    def context(self, out: Path, minutes: float | None = None, **kw: Any) -> Context:
        """A Context for this experiment: ``minutes`` (None: default) sets the budget scale."""
        if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
            raise ExperimentError(f"--minutes must be positive (got {minutes})")
        scale = 1.0 if minutes is None else minutes / self.default_minutes
        return Context(out=out, minutes=minutes, scale=scale, **kw)


REGISTRY: dict[str, Experiment] = {e.name: e for e in (
    Experiment("ae-vs-vae", "000", "AE (z=256) vs VAE (z=50): latent spread, prior samples, morph smoothness, 2-D map",
               "ae_vs_vae", 16.0),
    Experiment("latent-distances", "000", "same-character vs different-character code distances (1.15-1.75 vs >2.0)",
               "latent_distances", 5.0),
    Experiment("perturbation", "000", "which attributes change under small random code perturbations (probes)",
               "perturbation", 5.0),
    Experiment("blend", "000", "a blend of two characters carries features of both (probes at weight 0.5)",
               "blend", 3.0),
    Experiment("kl-balance", "001", "observation σ sweep, β·KL beside it: recon sharpness, KL, active units, "
               "sample FID", "kl_balance", 9.0),
    Experiment("gan-vs-vae", "003", "DCGAN, WGAN-GP, VAE, VAE-GAN on one budget: sharpness, diversity, stability, "
               "latent continuity", "gan_vs_vae", 7.0),
    Experiment("dcgan-seed002", "002", "the course DCGAN and its WGAN / WGAN-GP at lr 1e-4, batch 64: FID, KID, "
               "collapse signal, IS", "dcgan_seed002", 11.0),
    Experiment("mnist", "003", "AE and VAE on MNIST: loss per epoch, Real/Guess, noise samples, 1→7 morph, anomalies",
               "mnist", 3.0),
)}
"""All experiments, in the order ``experiment all`` runs them. Add one: a module + one line here."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def get(name: str) -> Experiment:
    if name not in REGISTRY:
        raise ExperimentError(f"unknown experiment {name!r}; choose one of: {', '.join(REGISTRY)}, or all")
    return REGISTRY[name]


def parse_reuse(items: list[str]) -> dict[str, Path]:
    """``--run KEY=PATH`` items → {key: path}; the path must exist (a run folder or a checkpoint)."""
    out: dict[str, Path] = {}
    for item in items:
        key, sep, path = item.partition("=")
        if not sep or not _NAME.match(key) or not path:
            raise ExperimentError(f"--run {item!r}: expected KEY=PATH, e.g. --run vae64=runs/vae64-1")
        p = Path(path).expanduser()
        if not os.path.exists(p):
            raise ExperimentError(f"--run {key}: {p} does not exist")
        out[key] = p
    return out
