"""The classic pytorch/examples MNIST VAE tutorial, end to end: the 784-400-20 VAE (Bernoulli likelihood,
BCE summed per image).

    python benchmarks/mnist_tutorial.py --mnist ../shared/data/mnist --epochs 20

Trains with configs/mnist-vae.toml, then writes docs/images/mnist_{recon,samples}.png and
benchmarks/results/mnist_tutorial.json with the loss per epoch (negative ELBO = BCE-sum + KL, per image).
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist", default=str(REPO.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--out", default="/tmp/animegen-mnist")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--results", type=Path, default=None, help="default: benchmarks/results/mnist_tutorial.json")
    ap.add_argument("--images", type=Path, default=REPO / "docs" / "images", help="where the grids go")
    ap.add_argument("--smoke", action="store_true",
                    help="seconds-long check that the script runs (one epoch; needs --results, --out and "
                    "--images outside the repository)")
    args = ap.parse_args()
    if args.smoke:
        if args.results is None or args.images == REPO / "docs" / "images":
            ap.error("--smoke needs --results PATH and --images DIR "
                     "(smoke numbers never go to benchmarks/results/ or docs/images/)")
        args.epochs = 1
    args.results = args.results or REPO / "benchmarks" / "results" / "mnist_tutorial.json"

    import animegen
    from animegen.config import resolve_run_config
    from animegen.data.sources import open_source
    from animegen.imaging import save_grid, to_tensor
    from animegen.runs import read_metrics
    from animegen.train.trainer import train

    torch.set_num_threads(args.threads)
    train_spec, test_spec = f"mnist:{args.mnist}", f"mnist:{args.mnist}:test"
    n_train = len(open_source(train_spec))
    cfg = resolve_run_config(config_path=REPO / "configs" / "mnist-vae.toml", data_source=train_spec,
                             overrides=["data.val_fraction=0", "train.log_every=1", "train.eval_every=0",
                                        "train.sample_every=0", "train.checkpoint_every=0"])
    steps_per_epoch = math.ceil(n_train / cfg.train.batch_size)
    cfg.train.steps = steps_per_epoch * args.epochs
    t0 = time.time()
    run = train(cfg, args.out)
    seconds = time.time() - t0

    per_epoch = defaultdict(list)
    for r in read_metrics(run):
        if "train/loss" in r:
            per_epoch[(r["step"] - 1) // steps_per_epoch + 1].append(r)
    table = [
        {
            "epoch": e,
            "loss_per_image": sum(x["train/loss"] for x in rs) / len(rs),
            "bce_per_image": sum(x["train/recon_per_image"] for x in rs) / len(rs),
            "kl_per_image": sum(x["train/kl_per_image"] for x in rs) / len(rs),
        }
        for e, rs in sorted(per_epoch.items())
    ]

    model = animegen.load(run / "final.safetensors")
    test = open_source(test_spec)
    real = to_tensor(test.images[:16])  # [16, 1, 28, 28]
    with torch.no_grad():
        recon = model.reconstruct(real)
        test_loss = model.eval_step(to_tensor(test.images[:2000]))
    save_grid(
        torch.cat([real[:8], recon[:8], real[8:], recon[8:]]),
        args.images / "mnist_recon.png",
        nrow=8,
        scale=2,
        row_labels=["Real", "Guess", "Real", "Guess"],
    )
    save_grid(
        model.sample(64, generator=torch.Generator().manual_seed(0)),
        args.images / "mnist_samples.png",
        nrow=8,
        scale=2,
    )
    result = {
        "command": "python benchmarks/mnist_tutorial.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {args.threads} thread(s)",
        "train_images": n_train,
        "epochs": args.epochs,
        "steps": cfg.train.steps,
        "seconds": round(seconds, 1),
        "test_2000": {k: float(v) for k, v in test_loss.items()},
        "per_epoch": table,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    for row in table:
        print(
            f"epoch {row['epoch']:2d}  loss/image {row['loss_per_image']:7.2f}  BCE {row['bce_per_image']:7.2f}  "
            f"KL {row['kl_per_image']:5.2f}"
        )
    print(f"test (2000 digits): {result['test_2000']}  — {seconds:.0f} s")


if __name__ == "__main__":
    main()
