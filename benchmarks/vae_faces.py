"""The VAE on real 64 px anime faces at a CPU budget: samples from N(0, I) and from the fitted prior.

Trains ``configs/vae-faces64.toml`` for ``--cpu-minutes`` of process CPU time on one thread (same prepared
faces and held-out split as ``fid_budget.py``), then writes

* ``docs/images/vae_faces64_samples.png``: 64 samples decoded from the Gaussian fitted to the training codes
  (``animegen sample RUN --prior fitted``; Ghosh et al. 2020, see ``animegen.latent.prior``);
* ``docs/images/vae_faces64_samples_prior.png``: the same seed decoded from N(0, I) (``--prior standard``);
* ``docs/images/vae_faces64_recon.png``: held-out faces over their reconstructions;
* ``benchmarks/results/vae_faces.json``: steps, held-out ELBO terms, and FID/KID of both priors (N samples vs
  the held-out faces, standard protocol).

    python benchmarks/vae_faces.py --faces ../shared/data/anime-faces-64.tar --cpu-minutes 10 --n 2000
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fid_budget import REPO, prepare, sh  # noqa: E402  (same prepared faces and held-out split)


def train(ds: Path, work: Path, cpu_minutes: float) -> Path:
    shutil.rmtree(work / "runs", ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    with open(work / "vae.log", "w") as log:
        p = sh(
            [
                sys.executable,
                "-m",
                "animegen",
                "-q",
                "train",
                "--config",
                str(REPO / "configs" / "vae-faces64.toml"),
                "--data",
                str(ds),
                "--out",
                str(work / "runs"),
                "--name",
                "vae",
                "--set",
                "train.threads=1",
                "--set",
                f"train.max_cpu_minutes={cpu_minutes}",
                "--set",
                "train.max_minutes=0",
                "--set",
                "train.steps=10000000",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if p.wait() != 0:
            sys.exit(f"training failed (see {work}/vae.log)")
    return sorted((work / "runs").glob("vae-*"))[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", required=True, help="folder/zip/tar of 64 px face crops")
    ap.add_argument("--cpu-minutes", type=float, default=10.0)
    ap.add_argument("--n", type=int, default=2000, help="generated samples per prior for FID (0: skip FID)")
    ap.add_argument("--holdout", type=float, default=0.154)
    ap.add_argument("--work", default=str(REPO / "benchmarks" / "out" / "vae_faces"))
    ap.add_argument("--eval-only", action="store_true", help="reuse the run already in --work")
    ap.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "vae_faces.json"))
    ap.add_argument("--images", type=Path, default=REPO / "docs" / "images", help="where the grids go")
    ap.add_argument("--smoke", action="store_true",
                    help="seconds-long check that the script runs (a few CPU-seconds of training, no FID; "
                    "needs --work, --results and --images outside the repository)")
    args = ap.parse_args()
    if args.smoke:
        defaults = {"work": str(REPO / "benchmarks" / "out" / "vae_faces"), "images": REPO / "docs" / "images",
                    "results": str(REPO / "benchmarks" / "results" / "vae_faces.json")}
        if any(getattr(args, k) == v for k, v in defaults.items()):
            ap.error("--smoke needs --work, --results and --images "
                     "(smoke numbers never go to benchmarks/results/ or docs/images/)")
        args.cpu_minutes, args.n = 0.05, 0

    import numpy as np
    import torch

    import animegen
    from animegen.data.sources import open_source
    from animegen.imaging import save_grid, to_tensor
    from animegen.metrics.evaluate import EvalOptions, evaluate_images, generate

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ds = prepare(args.faces, work, args.holdout)
    t0 = time.time()
    run = sorted((work / "runs").glob("vae-*"))[-1] if args.eval_only else train(ds, work, args.cpu_minutes)
    train_wall = time.time() - t0
    model = animegen.load(run / "final.safetensors")
    header = model.checkpoint_header
    images = args.images
    images.mkdir(parents=True, exist_ok=True)
    for prior, name in (("fitted", "vae_faces64_samples.png"), ("standard", "vae_faces64_samples_prior.png")):
        save_grid(model.sample(64, torch.Generator().manual_seed(0), prior=prior), images / name, nrow=8)
    real = open_source(str(ds), size=64, channels=3)
    held_out = np.asarray(real.images)[real.val_mask][:32]  # [32, 64, 64, 3] uint8, never trained on
    x = to_tensor(held_out)
    save_grid(
        torch.cat([x[:16], model.reconstruct(x[:16]), x[16:], model.reconstruct(x[16:])]),
        images / "vae_faces64_recon.png",
        nrow=16,
    )
    scores = {}
    if args.n:
        opts = EvalOptions(
            n=args.n, n_real=None, real_split="val", seed=0, recon=False, detect=False, memorisation=False
        )
        for prior in ("fitted", "standard"):
            fake = generate(model, args.n, seed=1234, prior=prior)
            m = evaluate_images(fake, real, opts)
            scores[prior] = {k: m.get(k) for k in ("fid", "kid", "kid_std", "precision", "recall")}
    result = {
        "command": "python benchmarks/vae_faces.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}",
        "budget": f"{args.cpu_minutes:g} process CPU-minutes, 1 thread",
        "train_wall_seconds": None if args.eval_only else round(train_wall, 1),
        "steps": header["step"],
        "val": header["extra"].get("val"),
        "fitted_prior_codes": int(model.prior_count),
        # spread of the training codes per latent dimension (N(0, I) would give 1): sqrt(diag(L Lᵀ))
        "code_std_per_dim_mean": float(model.prior_scale_tril.pow(2).sum(1).sqrt().mean()),
        "n_generated": args.n,
        "fid_by_prior": scores,
        "config": json.loads((run / "config.json").read_text()),
    }
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({"steps": result["steps"], "fid_by_prior": {k: v["fid"] for k, v in scores.items()}}, indent=2))


if __name__ == "__main__":
    main()
