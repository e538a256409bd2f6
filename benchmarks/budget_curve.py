"""Quality vs CPU budget: FID/KID of each model after 10, 30, 90 and 180 process CPU-minutes of training.

    python benchmarks/budget_curve.py --faces ../shared/data/anime-faces-64.tar --budgets 10 30 90 180 --n 2000
    python benchmarks/budget_curve.py ... --models recommended --budgets 10 30     # one model, first budgets
    python benchmarks/budget_curve.py ... --report-only                           # table + plot of what exists
    python benchmarks/budget_curve.py ... --report-only --merge WORK2 WORK3      # runs made side by side, one table

One training per model, 1 thread, in stages: stage k continues the run (``animegen train --resume``) for
``budget_k - budget_(k-1)`` CPU-minutes, then its exported ``final.safetensors`` is kept as the model at
``budget_k``. Each kept export is scored once: N generated samples against the **test half** of the held-out
faces (``--real-split test``: never trained on, never used for a choice; choices use the validation half),
standard protocol (InceptionV3 pool3, fp32, KID 100 × 1,000 subsets). A recipe with ``train.lr_decay`` (the
recommended GAN's) decays its learning rates at the end of every stage, since each stage is a budget of its
own: its cell at budget k is a run that restarted at full rate k − 1 times, not one straight run of budget k.

Resumable: ``state.json`` in ``--work`` records finished stages and scores. A stage killed midway (a kill, a
reboot, the end of a session) continues from its run's last checkpoint and finishes the CPU budget it had left,
decay included (``animegen train --resume`` without a new budget); a stage with no checkpoint of its own yet
restarts from the training state kept at its start, so no CPU-minute is counted twice. Writes ``--results``
(JSON), ``--table`` (Markdown) and ``--plot`` (PNG).

``--prior gmm`` (or another latent prior) scores an AE/VAE's kept exports again with samples from that prior;
those scores go in a row of their own (``vae (gmm)``) beside the default prior's (``auto``: N(0, I) for a VAE).
``--label NAME=TEXT`` names a model in the table and the plot (a run's folder name is often terse).

Models (``--models``; ``NAME=CONFIG`` adds one): ``recommended`` (configs/gan-recommended.toml),
``plain`` (configs/dcgan-examples.toml with fp32 and contiguous memory: the pytorch/examples loop, no EMA),
``wgan-gp`` (configs/wgan-gp.toml, seed 002's critic/generator), ``vae`` (configs/vae-faces.toml, the calibrated-σ
face VAE).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = {
    "recommended": ("configs/gan-recommended.toml", []),
    "plain": ("configs/dcgan-examples.toml", ["train.precision=fp32", "train.channels_last=false"]),
    "wgan-gp": ("configs/wgan-gp.toml", []),
    "vae": ("configs/vae-faces.toml", []),
}
STATE = "train_state.safetensors"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(cmd: list[str], log_path: Path) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    log("$ " + " ".join(cmd))
    with open(log_path, "a") as fh:
        return subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)


class State:
    def __init__(self, path: Path):
        self.path = path
        self.data = json.loads(path.read_text()) if path.exists() else {"models": {}}
        self.labels: dict[str, str] = {}  # --label NAME=TEXT: how the table and the plot name a model

    def model(self, name: str) -> dict:
        return self.data["models"].setdefault(name, {"stages": {}, "scores": {}})

    def save(self) -> None:
        from animegen.fsutil import atomic_write_json

        atomic_write_json(self.path, self.data, mark=True)


def prepare(faces: str, work: Path, holdout: float) -> Path:
    ds = work / "faces64"
    if not (ds / "manifest.json").exists():
        rc = sh([sys.executable, "-m", "animegen", "-q", "prepare", faces, "--size", "64", "--crop", "none",
                 "--val-fraction", str(holdout), "--seed", "0", "--out", str(ds)], work / "prepare.log")
        if rc:
            sys.exit("prepare failed")
    return ds


def newest_run(runs: Path, name: str) -> Path | None:
    """The newest run folder ``name-N`` with a training state (one a killed first stage left, or the one the
    first stage just trained), else None."""
    from animegen.runs import newest_run_dir

    return newest_run_dir(runs, name, holding=STATE)


def stage_progress(run: Path, start_state: Path) -> str:
    """Where the stage stands in ``run``: "unfinished" (its newest state lies inside the stage's CPU budget),
    "done" (the stage spent its budget and exported, but was stopped before it was recorded) or "start"."""
    from animegen.checkpoint import read_header
    from animegen.train import load_run_config
    from animegen.train.schedule import unfinished_budget

    head = read_header(run / STATE)
    if unfinished_budget(head.get("budget"), load_run_config(run).train) is not None:
        return "unfinished"
    started_at = read_header(start_state)["step"] if start_state.exists() else 0
    final = run / "final.safetensors"
    if head.get("budget") and head["step"] > started_at and final.exists() \
            and read_header(final)["step"] == head["step"]:
        return "done"
    return "start"


def train_stages(name: str, config: str, sets: list[str], ds: Path, work: Path, budgets: list[float],
                 state: State, extra: list[str]) -> None:
    """Train ``name`` up to each budget in turn, keeping the export (and the state) at every budget."""
    m = state.model(name)
    m.setdefault("config", config)  # what a merged report names it by
    mdir = work / name
    keep = mdir / "kept"
    keep.mkdir(parents=True, exist_ok=True)
    prev = 0.0
    for b in budgets:
        key = f"{b:g}"
        if key in m["stages"]:
            prev = b
            continue
        run = Path(m["run"]) if m.get("run") else newest_run(mdir / "runs", name)
        start_state = keep / f"state-{prev:g}.safetensors"
        where = stage_progress(run, start_state) if run is not None else "start"
        continuing = where == "unfinished"
        if run is not None and where == "start" and start_state.exists():  # back to where the stage started
            shutil.copy2(start_state, run / STATE)
        budget = [f"train.max_cpu_minutes={b - prev:g}", "train.max_minutes=0"]
        overrides = [*([] if continuing else budget), "train.steps=100000000", "train.threads=1",
                     "train.keep_checkpoints=1", *sets, *extra]
        flags = [a for s in overrides for a in ("--set", s)]
        if continuing:
            log(f"{name}: continuing the {key} CPU-min stage from its last checkpoint")
        if run is None:
            cmd = [sys.executable, "-m", "animegen", "-q", "train", "--config", str(REPO / config), "--data", str(ds),
                   "--out", str(mdir / "runs"), "--name", name, *flags]
        else:
            cmd = [sys.executable, "-m", "animegen", "-q", "train", "--resume", str(run), *flags]
        t0 = time.time()
        if where != "done" and sh(cmd, mdir / "train.log"):
            sys.exit(f"{name}: training failed at budget {key} (see {mdir / 'train.log'})")
        run = run or newest_run(mdir / "runs", name)
        assert run is not None, "a stage that trained leaves a training state"
        m["run"] = str(run)
        shutil.copy2(run / "final.safetensors", keep / f"model-{key}.safetensors")
        shutil.copy2(run / STATE, keep / f"state-{key}.safetensors")
        from animegen.checkpoint import read_header

        m["stages"][key] = {"steps": read_header(run / "final.safetensors")["step"],
                            "wall_s": round(time.time() - t0, 1), "cpu_minutes": b}
        state.save()
        log(f"{name}: {key} CPU-min done at step {m['stages'][key]['steps']}")
        prev = b


def score(name: str, work: Path, ds: Path, budgets: list[float], n: int, state: State, images: Path | None,
          prior: str = "auto") -> None:
    """Score each kept export of ``name`` once with samples from ``prior`` (``auto``: the model's default, N(0, I)
    for a VAE). Scores under another prior are kept beside the default ones (``prior_scores``), a row of their own."""
    import animegen
    from animegen.data.sources import open_source
    from animegen.errors import CheckpointError
    from animegen.metrics.evaluate import EvalOptions, evaluate_images, generate

    m = state.model(name)
    bucket = m["scores"] if prior == "auto" else m.setdefault("prior_scores", {}).setdefault(prior, {})
    label = name if prior == "auto" else f"{name} ({prior})"
    real = None
    for b in budgets:
        key = f"{b:g}"
        if key not in m["stages"] or key in bucket:
            continue
        model = animegen.load(work / name / "kept" / f"model-{key}.safetensors")
        try:
            fake = generate(model, n, seed=1234, prior=prior)
        except CheckpointError as exc:  # a GAN, or an export without that prior: say so, score the others
            log(f"{name} @ {key} CPU-min: not scored with prior {prior!r} ({exc})")
            continue
        real = real or open_source(str(ds), size=64, channels=3)
        opts = EvalOptions(n=n, n_real=None, real_split="test", seed=0, recon=False, detect=False,
                           memorisation=False)
        r = evaluate_images(fake, real, opts)
        bucket[key] = {k: r.get(k) for k in ("fid", "kid", "kid_std", "precision", "recall")}
        bucket[key]["real_split"] = (r.get("protocol") or {}).get("real_split")
        bucket[key]["n"] = n
        state.save()
        if images is not None:
            from animegen.imaging import save_grid

            suffix = "" if prior == "auto" else f"_{prior}"
            save_grid(fake[:64], images / f"budget_curve_{name}{suffix}_{key}.png", nrow=8)
        log(f"{label} @ {key} CPU-min: FID {bucket[key]['fid']:.1f}, KID {bucket[key]['kid']:.4f}")


def rows(state: State) -> list[tuple[str, dict, dict]]:
    """(label, stages, scores) per model and prior: the default prior's row, then one per other prior scored."""
    out = []
    for name, m in state.data["models"].items():
        label = state.labels.get(name, name)
        out.append((label, m["stages"], m["scores"]))
        out += [(f"{label} ({p})", m["stages"], sc) for p, sc in m.get("prior_scores", {}).items()]
    return out


def table(state: State, budgets: list[float]) -> str:
    head = "| model | " + " | ".join(f"{b:g} CPU-min" for b in budgets) + " |"
    lines = [head, "|---|" + "---|" * len(budgets)]
    for name, stages, scores in rows(state):
        cells = []
        for b in budgets:
            s, st = scores.get(f"{b:g}"), stages.get(f"{b:g}")
            if s:
                cells.append(f"{s['fid']:.1f} / {s['kid']:.3f} ({st['steps']:,} steps)")
            else:
                cells.append("not measured" if not st else f"trained ({st['steps']:,} steps), not scored")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nCells: FID / KID on the test half (N generated as stated in the JSON).\n"


def plot(state: State, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for name, _, scores in rows(state):
        pts = sorted((float(k), v) for k, v in scores.items())
        if pts:
            axes[0].plot([p[0] for p in pts], [p[1]["fid"] for p in pts], "o-", label=name)
            axes[1].plot([p[0] for p in pts], [p[1]["kid"] for p in pts], "o-", label=name)
    for ax, what in zip(axes, ("FID (test half)", "KID (test half)"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("process CPU-minutes (1 thread)")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": "animegen budget_curve.py"})
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", required=True, help="folder/zip/tar of 64 px face crops")
    ap.add_argument("--budgets", type=float, nargs="+", default=[10, 30, 90, 180], help="CPU-minutes")
    ap.add_argument("--models", nargs="+", default=list(MODELS), help="names, or NAME=CONFIG.toml")
    ap.add_argument("--n", type=int, default=2000, help="generated samples per score")
    ap.add_argument("--holdout", type=float, default=0.154, help="share of faces held out (valid + test halves)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every model")
    ap.add_argument("--work", type=Path, default=REPO / "benchmarks" / "out" / "budget_curve")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "budget_curve.json")
    ap.add_argument("--table", type=Path, default=REPO / "benchmarks" / "results" / "budget_curve.md")
    ap.add_argument("--plot", type=Path, default=REPO / "docs" / "images" / "budget_curve.png")
    ap.add_argument("--images", type=Path, default=None, help="also write a sample grid per model and budget here")
    ap.add_argument("--prior", default="auto", choices=["auto", "standard", "fitted", "gmm", "stage2"],
                    help="latent prior an AE/VAE samples from when scored (auto: its default, N(0, I) for a VAE); "
                         "scores under another prior are kept beside, in a row of their own")
    ap.add_argument("--label", action="append", default=[], metavar="NAME=TEXT",
                    help="name model NAME so in the table and the plot (e.g. crv='recommended GAN')")
    ap.add_argument("--no-score", action="store_true", help="train only (score later)")
    ap.add_argument("--report-only", action="store_true", help="only write the table and plot of what exists")
    ap.add_argument("--merge", type=Path, nargs="+", default=[], metavar="WORK",
                    help="also report the models of these other --work folders (runs made side by side)")
    args = ap.parse_args()
    if args.merge and not args.report_only:
        sys.exit("--merge goes with --report-only (it reports other folders' runs; it never trains into them)")
    budgets = sorted(set(args.budgets))
    args.work.mkdir(parents=True, exist_ok=True)
    state = State(args.work / "state.json")
    for spec in args.label:
        name, eq, text = spec.partition("=")
        if not eq or not name or not text:
            sys.exit(f"--label takes NAME=TEXT, got {spec!r}")
        state.labels[name] = text
    models: dict[str, tuple[str, list[str]]] = {}
    for spec in args.models:
        name, _, cfg = spec.partition("=")
        if cfg:
            models[name] = (cfg, [])
        elif name in MODELS:
            models[name] = MODELS[name]
        else:
            sys.exit(f"unknown model {name!r}: choose from {', '.join(MODELS)} or pass NAME=CONFIG.toml")
    ds = prepare(args.faces, args.work, args.holdout)
    for other in args.merge:  # reported beside ours, never written back to their own state
        for name, m in State(other / "state.json").data["models"].items():
            if name in state.data["models"]:
                sys.exit(f"model {name!r} is in both {args.work} and {other}: merge folders of different models")
            state.data["models"][name] = m
    if not args.report_only:
        for name, (config, sets) in models.items():
            train_stages(name, config, sets, ds, args.work, budgets, state, args.set)
            if not args.no_score:
                score(name, args.work, ds, budgets, args.n, state, args.images, args.prior)
    result = {"command": "python benchmarks/budget_curve.py " + " ".join(sys.argv[1:]),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores", "budgets_cpu_minutes": budgets,
              "protocol": f"N = {args.n} generated vs the test half of the held-out faces (holdout {args.holdout}), "
                          "InceptionV3 pool3 fp32; 1 training thread; budgets in process CPU time",
              "models": {k: {**v, "config": v.get("config") or (models.get(k) or MODELS.get(k, ("?", [])))[0]}
                         for k, v in state.data["models"].items()}}
    from animegen.fsutil import atomic_write_json, atomic_write_text

    args.results.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.results, result, mark=True)
    md = table(state, budgets)
    args.table.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.table, "<!-- written by animegen benchmarks/budget_curve.py -->\n" + md)
    plot(state, args.plot)
    print(md)


if __name__ == "__main__":
    main()
