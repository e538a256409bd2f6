"""Seconds for the latent editing tools end to end: a 64-frame interpolation GIF, a blend and a perturbation grid.

    .venv/bin/python benchmarks/bench_latent.py              # 64 px default VAE + recommended GAN, 1 and 2 threads
    .venv/bin/python benchmarks/bench_latent.py --smoke      # seconds: tiny 16 px models, one run, temp results

Each timed run goes through the library the way the commands do: load the checkpoint file, resolve the inputs
(the VAE encodes a 64 px PNG face and a ``synth:`` row; the GAN, which has no encoder, starts from ``seed:N``),
compute, and write the picture (GIF via ``imaging.save_gif``, PNG via ``imaging.save_png``) and its JSON.
The models are *untrained* (freshly initialised weights saved with ``checkpoint.save_model``): decoding cost
does not depend on the weights' values, so the timings hold for trained checkpoints of the same architecture.
Rows report the median wall time of ``--repeats`` runs after one warm-up, and the median process CPU time
(user + system), which other jobs on a shared machine disturb less. Writes ``benchmarks/results/latent.json``.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402

from animegen.checkpoint import load_model, save_model  # noqa: E402
from animegen.config import load_toml, run_config_from_dict  # noqa: E402
from animegen.fsutil import atomic_write_json  # noqa: E402
from animegen.imaging import make_grid, save_gif, save_png  # noqa: E402
from animegen.latent.blend import blend  # noqa: E402
from animegen.latent.codes import resolve_codes  # noqa: E402
from animegen.latent.interpolate import interpolate  # noqa: E402
from animegen.latent.perturb import perturb  # noqa: E402
from animegen.models import MODELS, DataSpec  # noqa: E402

TARGET_S = 1.0


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return []


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def build_models(folder: Path, smoke: bool) -> dict[str, tuple[Path, list[str]]]:
    """Save the benchmarked checkpoints; returns name → (checkpoint, the two inputs)."""
    from animegen.data.sources import open_source

    torch.manual_seed(0)
    size = 16 if smoke else 64
    if smoke:
        vae = MODELS["vae"](MODELS["vae"].config_cls(latent_dim=8, widths=(8, 8, 8, 8)), DataSpec(3, size))
        gan = MODELS["dcgan"](MODELS["dcgan"].config_cls(g_width=4, d_width=4, latent_dim=8), DataSpec(3, size))
    else:
        vae = MODELS["vae"](MODELS["vae"].config_cls(), DataSpec(3, size))  # the default VAE: 32-64-128-256, z=128
        recipe = run_config_from_dict(load_toml(REPO / "configs" / "gan-recommended.toml"))
        gan = MODELS["dcgan"](recipe.model, DataSpec(3, size))  # the recommended GAN (arch "fast", z=128)
    face = folder / "face.png"
    save_png(open_source("synth:4", size=size, channels=3).images[0], face)
    return {"vae": (save_model(folder / "vae.safetensors", vae), [str(face), "synth:4#2"]),
            "gan": (save_model(folder / "gan.safetensors", gan), ["seed:1", "seed:2"])}


class Stages:
    """Wall time of each stage of one run (load, inputs, compute, write)."""

    def __init__(self) -> None:
        self.t = time.perf_counter()
        self.times: dict[str, float] = {}

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = now - self.t
        self.t = now


def task_interpolate(ckpt: Path, inputs: list[str], out: Path, frames: int) -> dict[str, float]:
    s = Stages()
    model = load_model(ckpt)
    s.mark("load")
    codes = resolve_codes(model, inputs)
    s.mark("inputs")
    path = interpolate(model, codes.z, frames)
    s.mark("compute")
    save_gif([make_grid(f[None], padding=0) for f in path.frames], out / "morph.gif", fps=12)
    atomic_write_json(out / "morph.json", path.numbers())
    s.mark("write")
    return s.times


def task_blend(ckpt: Path, inputs: list[str], out: Path, frames: int) -> dict[str, float]:
    s = Stages()
    model = load_model(ckpt)
    s.mark("load")
    codes = resolve_codes(model, inputs)
    s.mark("inputs")
    result = blend(model, codes.z, [0.3, 0.7], grid=8)
    assert result.row is not None
    s.mark("compute")
    save_png(make_grid(torch.cat([result.inputs, result.image, result.row]), nrow=11), out / "blend.png")
    atomic_write_json(out / "blend.json", result.numbers(codes.z))
    s.mark("write")
    return s.times


def task_perturb(ckpt: Path, inputs: list[str], out: Path, frames: int) -> dict[str, float]:
    s = Stages()
    model = load_model(ckpt)
    s.mark("load")
    codes = resolve_codes(model, inputs[:1])
    s.mark("inputs")
    result = perturb(model, codes.z[0], "random", 0.5, 8)
    s.mark("compute")
    save_png(make_grid(result.frames, nrow=result.ncol), out / "perturb.png")
    atomic_write_json(out / "perturb.json", result.numbers())
    s.mark("write")
    return s.times


TASKS = {"interpolate_gif": task_interpolate, "blend_with_8_grid": task_blend,
         "perturb_random_8": task_perturb}


def time_task(fn, ckpt: Path, inputs: list[str], out: Path, frames: int, repeats: int) -> dict:
    fn(ckpt, inputs, out, frames)  # warm-up: imports, allocator, oneDNN kernels
    walls, cpus, stages = [], [], []
    load0 = _load()
    for _ in range(repeats):
        c0, t0 = _cpu(), time.perf_counter()
        stages.append(fn(ckpt, inputs, out, frames))
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
    return {"median_s": round(statistics.median(walls), 4), "min_s": round(min(walls), 4),
            "median_cpu_s": round(statistics.median(cpus), 4), "runs": repeats,
            "median_stage_s": {k: round(statistics.median(s[k] for s in stages), 4) for k in stages[0]},
            "load_before": load0, "load_after": _load()}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny 16 px models, 8 frames, one run (seconds)")
    ap.add_argument("--repeats", type=int, default=7, help="timed runs per row (after one warm-up)")
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default benchmarks/results/latent.json; "
                    "--smoke: a temporary file)")
    args = ap.parse_args(argv)
    frames = 8 if args.smoke else 64
    repeats = 1 if args.smoke else args.repeats
    threads = [int(t) for t in args.threads.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = build_models(folder, args.smoke)
        for t in threads:
            torch.set_num_threads(t)
            for name, (ckpt, inputs) in models.items():
                for task, fn in TASKS.items():
                    row = {"model": name, "task": task, "threads": t, "frames": frames,
                           **time_task(fn, ckpt, inputs, folder, frames, repeats)}
                    row["under_target"] = row["median_s"] < TARGET_S
                    rows.append(row)
                    stage_text = " ".join(f"{k} {v:.3f}" for k, v in row["median_stage_s"].items())
                    print(f"{name:4s} {task:18s} threads={t}  median {row['median_s']:.3f} s  "
                          f"(cpu {row['median_cpu_s']:.3f} s; {stage_text})  load {row['load_before']}", flush=True)
    result = {
        "benchmark": "latent",
        "command": "benchmarks/bench_latent.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
                    "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                    else os.cpu_count()},
        "note": "untrained weights (decode cost does not depend on them); shared machine: see load columns",
        "models": {"vae": "default VAEConfig() at 64 px" if not args.smoke else "tiny 16 px VAE",
                   "gan": "configs/gan-recommended.toml model (dcgan arch fast) at 64 px" if not args.smoke
                   else "tiny 16 px DCGAN"},
        "target_s": TARGET_S,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": rows,
    }
    out = args.out or (Path(tempfile.gettempdir()) / "bench_latent_smoke.json" if args.smoke
                       else REPO / "benchmarks" / "results" / "latent.json")
    atomic_write_json(out, result)
    print(out)
    return result


if __name__ == "__main__":
    main()
