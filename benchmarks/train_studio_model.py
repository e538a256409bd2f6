"""Train the model bundled with ``animegen studio`` (``src/animegen/studio/assets/studio-vae.safetensors``).

Synthetic faces only (``synth:N``, the built-in procedural generator): the bundled weights never saw an image
without a licence. The recipe is ``configs/vae-faces.toml`` (calibrated-σ VAE with a Gaussian-mixture prior
fitted at export) made small enough to ship: widths 16-32-64-128, a 64-dimensional latent, 64 px, one thread,
a process-CPU budget. When training ends the checkpoint goes into the package with its encoder/decoder weights
stored as bfloat16, which halves the file (the loader casts them back to the model's float32; BatchNorm statistics,
the fitted priors and σ stay float32).

    OMP_NUM_THREADS=1 python benchmarks/train_studio_model.py --cpu-minutes 15 --n 8000
    python benchmarks/train_studio_model.py --from RUN/final.safetensors     # package a checkpoint, no training

Rerunning it reproduces the model up to thread timing (the budget is CPU time, so the step count varies a little).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from animegen.checkpoint import read_header, read_tensors, save_tensors  # noqa: E402

ASSET = REPO / "src" / "animegen" / "studio" / "assets" / "studio-vae.safetensors"
# model.mmd_weight=0, train.batch_size=64: the shipped model was made before the recipe gained its MMD term and batch 32
# (its priors were fitted to its first 4,096 training faces; a rebuild fits them to train.prior_fit_codes codes)
OVERRIDES = ["model.widths=[16,32,64,128]", "model.latent_dim=64", "model.prior_components=8", "model.mmd_weight=0",
             "train.batch_size=64", "train.threads=1", "train.steps=1000000", "train.eval_every=500"]


def package(src: Path, dst: Path) -> None:
    """Write checkpoint ``src`` to ``dst`` with the float32 encoder/decoder weights and biases as bfloat16."""
    header, tensors = read_header(src), read_tensors(src)
    for k, v in tensors.items():
        if k.split(".")[0] in ("encoder", "decoder") and k.endswith((".weight", ".bias")) and v.dtype == torch.float32:
            tensors[k] = v.to(torch.bfloat16)
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_tensors(dst, tensors, header)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpu-minutes", type=float, default=15.0, help="process-CPU budget of the training")
    ap.add_argument("--n", type=int, default=8000, help="synthetic faces to train on (synth:N)")
    ap.add_argument("--work", type=Path, default=None, help="folder for the run (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=ASSET, help="where the checkpoint goes")
    ap.add_argument("--from", dest="src", type=Path, default=None,
                    help="package this checkpoint instead of training one")
    args = ap.parse_args(argv)
    if args.src is not None:
        package(args.src, args.out)
        print(f"{args.src} -> {args.out} ({args.out.stat().st_size:,} bytes)")
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="studio-model-"))
    cmd = [sys.executable, "-m", "animegen", "train", "--config", str(REPO / "configs" / "vae-faces.toml"),
           "--data", f"synth:{args.n}", "--name", "studio-vae", "--out", str(work), "--no-report",
           *[a for o in OVERRIDES for a in ("--set", o)], "--set", f"train.max_cpu_minutes={args.cpu_minutes}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    print(" ".join(cmd), flush=True)
    run = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
    final = Path(run) / "final.safetensors"
    package(final, args.out)
    print(f"{final} -> {args.out} ({args.out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
