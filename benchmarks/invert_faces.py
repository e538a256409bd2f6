"""How close GAN inversion gets on real faces the GAN never trained on.

Prepares the faces with a held-out split, trains the recommended GAN (configs/gan-recommended.toml) on the
rest for a process-CPU budget on one thread, then inverts N held-out faces and N training faces with
``animegen.latent.invert`` and reports, for each group, the mean pixel MSE (on [0, 1]) and the feature
distance (the discriminator features the inversion optimises), plus the same distances for random codes
(the baseline) and, when the FID Inception weights are present, the Inception pool3 distance between each
face and its inversion: a feature space the inversion did not optimise.

    python benchmarks/invert_faces.py --faces ../shared/data/anime-faces-64.tar --cpu-minutes 4 --n 32
    python benchmarks/invert_faces.py --smoke        # seconds: synthetic faces, a 2-step dry-run GAN

Writes benchmarks/results/invert_faces.json and docs/images/invert_faces.png (held-out faces over their
inversions). A run folder already in --work with a final checkpoint is reused (delete --work to retrain).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str], log: Path | None = None) -> None:
    print("+", " ".join(cmd), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    with open(log, "w") if log else open(os.devnull, "w") as fh:
        if subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}" + (f" (see {log})" if log else ""))


def final_checkpoint(work: Path) -> Path | None:
    from animegen.runs import newest_run_dir

    run = newest_run_dir(work / "runs", "gan", holding="final.safetensors")
    return None if run is None else run / "final.safetensors"


def train(args, work: Path) -> Path:
    ckpt = final_checkpoint(work)
    if ckpt is not None:
        print(f"reusing {ckpt}", flush=True)
        return ckpt
    data = "synth:200" if args.smoke else str(work / "faces64")
    if not args.smoke and not (work / "faces64" / "manifest.json").exists():
        run([sys.executable, "-m", "animegen", "-q", "prepare", args.faces, "--size", "64", "--crop", "none",
             "--val-fraction", str(args.holdout), "--seed", "0", "--workers", "1", "--out", str(work / "faces64")])
    extra = ["--dry-run"] if args.smoke else ["--set", f"train.max_cpu_minutes={args.cpu_minutes}"]
    run([sys.executable, "-m", "animegen", "-q", "train", "--config", str(REPO / "configs" / "gan-recommended.toml"),
         "--data", data, "--out", str(work / "runs"), "--name", "gan", "--set", "train.threads=1",
         "--set", "train.max_minutes=0", "--set", "train.steps=10000000", *extra], log=work / "train.log")
    ckpt = final_checkpoint(work)
    if ckpt is None:
        sys.exit(f"training wrote no final checkpoint (see {work / 'train.log'})")
    return ckpt


def faces(args, work: Path, ckpt: Path, n: int):
    """N held-out and N training faces (uint8), chosen by a seeded permutation of each split."""
    import numpy as np

    from animegen.data.sources import open_source
    from animegen.metrics.refstats import split_images

    cfg = json.loads((ckpt.parent / "config.json").read_text()).get("data", {})
    ds = open_source("synth:200" if args.smoke else str(work / "faces64"), size=64, channels=3)
    vf, seed = float(cfg.get("val_fraction", 0.05)), int(cfg.get("seed", 0))
    held, how = split_images(ds, "val", vf, seed)
    seen, _ = split_images(ds, "train", vf, seed)
    rng = np.random.default_rng(0)
    pick = lambda a: a[np.sort(rng.permutation(len(a))[: min(n, len(a))])]  # noqa: E731
    return pick(held), pick(seen), how


def inception_distance(a, b) -> float | None:
    """Mean L2 distance between the pool3 features of paired uint8 images (None without the weights)."""
    import numpy as np

    from animegen.metrics.api import inception_available
    from animegen.metrics.inception import get_extractor

    if not inception_available():
        return None
    ext = get_extractor()
    fa, fb = ext.extract(a, logits=False).pool, ext.extract(b, logits=False).pool
    return float(np.linalg.norm(fa - fb, axis=1).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", help="folder/zip/tar of 64 px face crops (anime-faces-64.tar)")
    ap.add_argument("--cpu-minutes", type=float, default=4.0, help="process-CPU budget of the GAN (one thread)")
    ap.add_argument("--holdout", type=float, default=0.05, help="share of faces held out of training")
    ap.add_argument("--n", type=int, default=32, help="faces inverted per group (held-out, training)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--restarts", type=int, default=2)
    ap.add_argument("--work", default=str(REPO / "benchmarks" / "out" / "invert_faces"))
    ap.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "invert_faces.json"),
                    help="results JSON file (or a folder to write invert_faces.json into)")
    ap.add_argument("--smoke", action="store_true", help="synthetic faces, dry-run GAN, 4 faces, 3 steps; writes "
                    "only into --work")
    args = ap.parse_args()
    if args.smoke:
        args.n, args.steps, args.restarts = 4, 3, 2
    elif not args.faces:
        ap.error("--faces is required (or --smoke)")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(1)
    import animegen
    from animegen.imaging import save_grid, to_tensor, to_uint8
    from animegen.latent.invert import InvertConfig, invert, random_code_distances
    from animegen.train.device import machine_line

    ckpt = train(args, work)
    model = animegen.load(ckpt)
    held, seen, how = faces(args, work, ckpt, args.n)
    cfg = InvertConfig(steps=args.steps, restarts=args.restarts)
    out: dict = {}
    t0 = time.process_time()
    for name, imgs in (("held_out", held), ("training", seen)):
        x = to_tensor(imgs)  # [n, 3, 64, 64]
        t = time.process_time()
        res = invert(model, x, cfg)
        rand_pix, rand_feat = random_code_distances(model, x, seed=1)
        inv_u8 = to_uint8(res.generated)
        with torch.no_grad():
            rand_u8 = to_uint8(model.sample(len(imgs), generator=torch.Generator().manual_seed(1)))  # the same codes
        out[name] = {"n": len(imgs), "cpu_seconds": round(time.process_time() - t, 1),
                     "inverted": {"pixel_mse": float(res.pixel_mse.mean()),
                                  "feature_distance": float(res.feature_distance.mean()),
                                  "inception_l2": inception_distance(imgs, inv_u8) if not args.smoke else None},
                     "random_codes": {"pixel_mse": float(rand_pix.mean()), "feature_distance": float(rand_feat.mean()),
                                      "inception_l2": inception_distance(imgs, rand_u8) if not args.smoke else None}}
        if name == "held_out":
            k = min(16, len(imgs))
            grid_path = work / "invert_faces.png" if args.smoke else REPO / "docs" / "images" / "invert_faces.png"
            save_grid(torch.cat([x[:k], res.generated[:k]]), grid_path, nrow=k, row_labels=["face", "inverted"])
        print(name, json.dumps(out[name]), flush=True)
    header = model.checkpoint_header
    out["setup"] = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": machine_line(), "python": platform.python_version(),
        "torch": torch.__version__, "threads": 1, "gan": "configs/gan-recommended.toml",
        "gan_cpu_minutes_budget": None if args.smoke else args.cpu_minutes, "gan_steps": header.get("step"),
        "split": how, "invert": {"steps": args.steps, "restarts": args.restarts, "lr": cfg.lr,
                                 "feature_weight": cfg.feature_weight, "prior_weight": cfg.prior_weight},
        "inversion_cpu_seconds": round(time.process_time() - t0, 1),
        "pixel_mse_scale": "[0, 1] images", "feature_distance": "discriminator activations (optimised)",
        "inception_l2": "mean L2 between pool3 features of a face and its inversion (not optimised)",
    }
    results = work / "invert_faces.json" if args.smoke else Path(args.results)
    if results.is_dir():  # a folder: the JSON goes inside it
        results = results / "invert_faces.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(out, indent=2) + "\n")
    print(results)


if __name__ == "__main__":
    main()
