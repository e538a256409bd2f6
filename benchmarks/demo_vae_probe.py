"""Does the demo's VAE keep hair and eye colour, and do its N(0, I) samples have the training set's colours?

Trains the VAE recipe of ``animegen demo`` (``animegen.demo.demo_config``: the built-in faces ``synth:8000:0`` at
64 px, batch 32) for a fixed number of steps (default 1,000, what the default 4-minute demo's VAE reaches on the
quiet 2-core Intel Xeon box), then measures with the image probe trained on other synthetic faces
(``animegen.latent.probe.default_probe``):

* ``retention``: the probe's hair/eye-colour accuracy on 1,000 unseen synthetic faces (``synth`` seed 3) and on
  their reconstructions, and the drop in points (``animegen.latent.retention.attribute_retention``);
* ``prior_colours``: predicted hair/eye-colour frequencies of 1,000 N(0, I) samples against the training labels
  (total variation distance; ``class_histogram_distance``), also for the fitted-Gaussian prior.

``--checkpoint`` scores a VAE trained elsewhere instead (e.g. ``DEMO_OUT/runs/vae-demo-1/final.safetensors`` after
``animegen demo`` or ``benchmarks/demo_timing.py``: the demo end to end); its steps are read from the run's log.
Writes ``benchmarks/results/demo_vae_probe_<label>.json`` and ``docs/images/demo_vae_<label>_{standard,recon}.png``.
``--set`` overrides go on top of the demo recipe (e.g. without its RGB skips: ``--set model.rgb_skips=false``)::

    OMP_NUM_THREADS=1 python benchmarks/demo_vae_probe.py --label sk1000
    OMP_NUM_THREADS=1 python benchmarks/demo_vae_probe.py --label c1100 --steps 1100 --set model.rgb_skips=false
    python benchmarks/demo_timing.py --out demo-t && OMP_NUM_THREADS=1 python benchmarks/demo_vae_probe.py \\
        --label demo --checkpoint demo-t/runs/vae-demo-1/final.safetensors
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", required=True)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--set", action="append", default=[], help="extra model/train overrides on the demo recipe")
    ap.add_argument("--checkpoint", default=None,
                    help="score this VAE (trained on the demo's faces) instead of training one; --steps/--set unused")
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--work", default=None, help="folder for the run (default: a temporary one)")
    ap.add_argument("--images", default=str(REPO / "docs" / "images"))
    ap.add_argument("--results", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()

    import torch

    from animegen.checkpoint import load_model
    from animegen.config import apply_overrides
    from animegen.data.sources import open_source
    from animegen.data.synthetic import render_faces
    from animegen.demo import DEMO_VAE, default_faces, demo_config
    from animegen.fsutil import atomic_write_json
    from animegen.imaging import save_grid, to_tensor
    from animegen.latent.probe import default_probe, label_columns
    from animegen.latent.retention import COLOUR_ATTRIBUTES, attribute_retention, class_histogram_distance
    from animegen.runs import FINAL, last_step, read_metrics
    from animegen.train.device import machine_line
    from animegen.train.trainer import train

    torch.set_num_threads(1)
    n = default_faces(4.0)
    data = open_source(f"synth:{n}:0", size=64, channels=3)
    cfg = demo_config(1e9, len(data), 64, 0)
    cfg.train.steps, cfg.train.max_minutes, cfg.train.threads = args.steps, 0.0, 1
    cfg = apply_overrides(cfg, args.set)
    if args.checkpoint:
        ckpt = Path(args.checkpoint)
        steps = last_step(read_metrics(ckpt.parent)) or None  # None: no log beside the checkpoint
        train_cpu, recipe = None, f"trained elsewhere: {ckpt}"
    else:
        work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="demo_vae_probe-"))
        t0 = time.process_time()
        run = train(cfg, work / "runs", data=data)
        train_cpu = round(time.process_time() - t0, 1)
        ckpt, steps, recipe = run / FINAL, args.steps, DEMO_VAE + args.set
    model = load_model(ckpt).eval()

    probe = default_probe()
    imgs, labels = render_faces(args.n_test, 64, seed=3)
    cols = label_columns({k: labels[k] for k in COLOUR_ATTRIBUTES})
    x = to_tensor(imgs)  # [N, 3, 64, 64]
    with torch.no_grad():
        rec = torch.cat([model.reconstruct(x[i:i + 250]) for i in range(0, len(x), 250)])  # [N, 3, 64, 64]
    retention = attribute_retention(probe, x, rec, cols, COLOUR_ATTRIBUTES)
    train_cols = label_columns({k: data.labels[k] for k in COLOUR_ATTRIBUTES})
    prior_colours = {}
    for prior in ("standard", "fitted"):
        s = model.sample(args.n_test, torch.Generator().manual_seed(0), prior=prior)  # [N, 3, 64, 64]
        prior_colours[prior] = class_histogram_distance(probe, s, train_cols, COLOUR_ATTRIBUTES)
    images = Path(args.images)
    save_grid(model.sample(64, torch.Generator().manual_seed(0), prior="standard"),
              images / f"demo_vae_{args.label}_standard.png", nrow=8)
    save_grid(torch.cat([x[:8], rec[:8], x[8:16], rec[8:16]]), images / f"demo_vae_{args.label}_recon.png", nrow=8)
    result = {
        "command": "python benchmarks/demo_vae_probe.py " + " ".join(sys.argv[1:]),
        "machine": machine_line(),
        "recipe": recipe, "steps": steps, "train_cpu_seconds": train_cpu,
        "probe": {"data": getattr(probe, "report", {}).get("data"),
                  "held_out": getattr(probe, "report", {}).get("held_out", {})},
        "test_faces": f"synth seed 3, {args.n_test} faces",
        "retention": retention, "prior_colours": prior_colours,
        "heldout_mse_per_pixel": float((rec - x).pow(2).mean()),
    }
    out = Path(args.results) / f"demo_vae_probe_{args.label}.json"
    atomic_write_json(out, result, mark=True)
    print(json.dumps({"retention": retention, "tv": {p: {k: v["total_variation"] for k, v in d.items()}
                                                     for p, d in prior_colours.items()}}, indent=1))


if __name__ == "__main__":
    main()
