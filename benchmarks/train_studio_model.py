"""Train the model bundled with ``animegen studio`` (``src/animegen/studio/assets/studio-vae.safetensors``).

Synthetic faces only (``synth:N``, the built-in procedural generator): the bundled weights never saw an image
without a licence. The recipe is ``configs/vae-faces.toml`` (calibrated-σ VAE with a Gaussian-mixture prior
fitted at export) made small enough to ship: widths 16-32-64-128, a 64-dimensional latent, 64 px, one thread,
a process-CPU budget. The checkpoint is copied into the package when training ends.

    OMP_NUM_THREADS=1 python benchmarks/train_studio_model.py --cpu-minutes 15 --n 8000

Rerunning it reproduces the model up to thread timing (the budget is CPU time, so the step count varies a little).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from animegen.fsutil import atomic_write_bytes  # noqa: E402

ASSET = REPO / "src" / "animegen" / "studio" / "assets" / "studio-vae.safetensors"
OVERRIDES = ["model.widths=[16,32,64,128]", "model.latent_dim=64", "model.prior_components=8", "train.threads=1",
             "train.steps=1000000", "train.eval_every=500"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpu-minutes", type=float, default=15.0, help="process-CPU budget of the training")
    ap.add_argument("--n", type=int, default=8000, help="synthetic faces to train on (synth:N)")
    ap.add_argument("--work", type=Path, default=None, help="folder for the run (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=ASSET, help="where the checkpoint goes")
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="studio-model-"))
    cmd = [sys.executable, "-m", "animegen", "train", "--config", str(REPO / "configs" / "vae-faces.toml"),
           "--data", f"synth:{args.n}", "--name", "studio-vae", "--out", str(work), "--no-report",
           *[a for o in OVERRIDES for a in ("--set", o)], "--set", f"train.max_cpu_minutes={args.cpu_minutes}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    print(" ".join(cmd), flush=True)
    run = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
    final = Path(run) / "final.safetensors"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, final.read_bytes())
    print(f"{final} -> {args.out} ({args.out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
