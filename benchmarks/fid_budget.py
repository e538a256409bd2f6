"""FID at a fixed CPU budget: our recommended GAN recipe vs the plain pytorch/examples DCGAN loop.

Both train on the same prepared faces with the same held-out split, side by side, one thread each, for the
same process CPU time; then N samples of each are scored against the held-out real faces with the
standard protocol (FID-InceptionV3 pool3, KID, precision/recall k = 3).

    python benchmarks/fid_budget.py --faces ../shared/data/anime-faces-64.tar --cpu-minutes 30 --n 2000
    python benchmarks/fid_budget.py ... --keep-plain --set model.loss=hinge   # a variant of our recipe only

Writes benchmarks/results/fid_budget.json and docs/images/fid_budget_{ours,plain}.png.
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


def sh(cmd: list[str], **kw) -> subprocess.Popen:
    print("+", " ".join(cmd), flush=True)
    return subprocess.Popen(cmd, **kw)


def prepare(faces: str, work: Path, holdout: float) -> Path:
    ds = work / "faces64"
    if not (ds / "manifest.json").exists():
        p = sh([sys.executable, "-m", "animegen", "-q", "prepare", faces, "--size", "64", "--crop", "none",
                "--val-fraction", str(holdout), "--seed", "0", "--out", str(ds)])
        if p.wait() != 0:
            sys.exit("prepare failed")
    return ds


def launch(
    ds: Path, work: Path, cpu_minutes: float, recipe: str, sets: list[str], plain: bool, n_samples: int = 2000
) -> dict[str, subprocess.Popen]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    procs = {}
    if plain:
        procs["plain"] = launch_plain(ds, work, cpu_minutes, env, n_samples)
    ours_log = open(work / "ours.log", "w")
    extra = [a for s in sets for a in ("--set", s)]
    procs["ours"] = sh(
        [
            sys.executable,
            "-m",
            "animegen",
            "-q",
            "train",
            "--config",
            recipe,
            "--data",
            str(ds),
            "--out",
            str(work / "runs"),
            "--name",
            "ours",
            "--set",
            "train.threads=1",
            "--set",
            f"train.max_cpu_minutes={cpu_minutes}",
            "--set",
            "train.max_minutes=0",
            "--set",
            "train.steps=10000000",
            *extra,
        ],
        env=env,
        stdout=ours_log,
        stderr=subprocess.STDOUT,
    )
    return procs


def launch_plain(ds: Path, work: Path, cpu_minutes: float, env: dict, n_samples: int = 2000) -> subprocess.Popen:
    plain_log = open(work / "plain.log", "w")
    return sh(
        [
            sys.executable,
            str(REPO / "benchmarks" / "plain_dcgan.py"),
            "--data",
            str(ds),
            "--cpu-minutes",
            str(cpu_minutes),
            "--threads",
            "1",
            "--out",
            str(work / "plain"),
            "--n-samples",
            str(n_samples),
        ],
        env=env,
        stdout=plain_log,
        stderr=subprocess.STDOUT,
    )


def latest_run(work: Path) -> Path:
    from animegen.runs import newest_run_dir

    run = newest_run_dir(work / "runs", "ours")
    if run is None:
        sys.exit("no run folder for ours")
    return run


def load_live_weights(model, run: Path) -> None:
    """Replace the exported (EMA) weights by the training weights of the run's resumable state."""
    from animegen.train.state import load_state

    model.load_state_dict(load_state(run / "train_state.safetensors").section("model"))
    model.eval()


def evaluate(ds: Path, work: Path, n: int, truncation: float | None = None, live: bool = False,
             images: Path = REPO / "docs" / "images") -> dict:
    import numpy as np

    import animegen
    from animegen.data.sources import open_source
    from animegen.imaging import save_grid
    from animegen.metrics.evaluate import EvalOptions, evaluate_images, generate

    real = open_source(str(ds), size=64, channels=3)
    opts = EvalOptions(n=n, n_real=None, real_split="val", seed=0, recon=False, detect=False, memorisation=False)
    run = latest_run(work)
    model = animegen.load(run / "final.safetensors")
    if live:
        load_live_weights(model, run)
    fakes = {
        "ours": (run, lambda: generate(model, n, seed=1234, truncation=truncation)),
        "plain": (work / "plain", lambda: np.load(work / "plain" / "samples.npy")[:n]),
    }
    out = {}
    for name, (folder, make) in fakes.items():
        tag = (f"_t{truncation:g}" if truncation else "") + ("_live" if live else "") if name == "ours" else ""
        cached = folder / f"fid_budget_metrics_n{n}{tag}.json"  # scores of this model's samples, reused on re-runs
        if cached.exists():
            out[name] = json.loads(cached.read_text())
            continue
        fake = make()
        save_grid(fake[:64], images / f"fid_budget_{name}{tag}.png", nrow=8)
        m = evaluate_images(fake, real, opts)
        out[name] = {k: m.get(k) for k in ("fid", "kid", "kid_std", "precision", "recall", "is", "is_std")}
        out[name]["protocol"] = m.get("protocol")
        cached.write_text(json.dumps(out[name], indent=2, default=str))
    header = model.checkpoint_header
    steps_ours = header["step"]
    out["ours"]["run"] = {"steps": steps_ours, "config": json.loads((run / "config.json").read_text())}
    out["plain"]["run"] = json.loads((work / "plain" / "summary.json").read_text())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", required=True, help="folder/zip/tar of 64 px face crops")
    ap.add_argument("--cpu-minutes", type=float, default=30.0)
    ap.add_argument("--n", type=int, default=2000, help="generated samples per model")
    ap.add_argument("--holdout", type=float, default=0.154, help="share of faces held out (never trained on)")
    ap.add_argument("--recipe", default=str(REPO / "configs" / "gan-recommended.toml"))
    ap.add_argument("--work", default=str(REPO / "benchmarks" / "out" / "fid_budget"))
    ap.add_argument("--eval-only", action="store_true", help="score the existing runs in --work")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of our recipe (repeatable), e.g. --set model.loss=hinge",
    )
    ap.add_argument(
        "--keep-plain",
        action="store_true",
        help="reuse the plain loop already trained in --work (same budget) instead of training it again",
    )
    ap.add_argument("--truncation", type=float, default=None, help="sample ours with the truncation trick")
    ap.add_argument(
        "--live",
        action="store_true",
        help="score ours with its training weights instead of the exported EMA (the EMA ablation)",
    )
    ap.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "fid_budget.json"))
    ap.add_argument("--images", type=Path, default=REPO / "docs" / "images", help="where the sample grids go")
    ap.add_argument("--smoke", action="store_true",
                    help="seconds-long check that the script runs (a few CPU-seconds each, 8 samples; "
                    "needs --work, --results and --images outside the repository)")
    args = ap.parse_args()
    if args.smoke:
        defaults = {"work": str(REPO / "benchmarks" / "out" / "fid_budget"), "images": REPO / "docs" / "images",
                    "results": str(REPO / "benchmarks" / "results" / "fid_budget.json")}
        if any(getattr(args, k) == v for k, v in defaults.items()):
            ap.error("--smoke needs --work, --results and --images "
                     "(smoke numbers never go to benchmarks/results/ or docs/images/)")
        args.cpu_minutes, args.n = 0.05, 8

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ds = prepare(args.faces, work, args.holdout)
    t0 = time.time()
    if not args.eval_only:
        shutil.rmtree(work / "runs", ignore_errors=True)
        plain_done = (work / "plain" / "summary.json").exists()
        if args.keep_plain and not plain_done:
            sys.exit(f"--keep-plain: no finished plain run in {work / 'plain'}")
        if (
            args.keep_plain
            and abs(json.loads((work / "plain" / "summary.json").read_text())["cpu_seconds"] - 60 * args.cpu_minutes)
            > 60
        ):
            sys.exit("--keep-plain: the plain run in --work had another --cpu-minutes budget")
        procs = launch(ds, work, args.cpu_minutes, args.recipe, args.set, plain=not args.keep_plain,
                       n_samples=max(args.n, 64))
        codes = {k: p.wait() for k, p in procs.items()}
        if any(codes.values()):
            sys.exit(f"training failed: {codes} (see {work}/*.log)")
    train_wall = time.time() - t0
    scores = evaluate(ds, work, args.n, args.truncation, args.live, args.images)
    result = {
        "command": "python benchmarks/fid_budget.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}",
        "budget": f"{args.cpu_minutes:g} process CPU-minutes each, 1 thread each, both runs side by side",
        "train_wall_seconds": round(train_wall, 1),
        "n_generated": args.n,
        "real": "held-out split of the prepared faces (never trained on)",
        "recipe": str(Path(args.recipe).relative_to(REPO)) if Path(args.recipe).is_relative_to(REPO) else args.recipe,
        "overrides": args.set,
        "truncation": args.truncation,
        "weights": "live (no EMA)" if args.live else "exported",
        **scores,
        "fid_ratio_plain_over_ours": scores["plain"]["fid"] / scores["ours"]["fid"],
    }
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(
        json.dumps(
            {
                k: (v["fid"] if isinstance(v, dict) and "fid" in v else v)
                for k, v in result.items()
                if k in ("ours", "plain", "fid_ratio_plain_over_ours")
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
