"""Steps the demo's VAE and GAN make: one after the other on all threads, or side by side, one thread each.

    .venv/bin/python benchmarks/bench_side_by_side.py                  # 60 s per run, on the built-in faces
    .venv/bin/python benchmarks/bench_side_by_side.py --seconds 120 --repeats 2

Trains the demo's two recipes (``animegen.demo.demo_config`` / ``gan_config``, 64 px, ``synth:8000:0``) for
``--seconds`` of wall time each, first one after the other with torch's default threads, then side by side
(``animegen.train.side_by_side.train_side_by_side``), and records the steps each reached, alternating the two
modes ``--repeats`` times. Run it on a quiet machine: the point is the wall-clock throughput of the cores.
Writes ``benchmarks/results/side_by_side.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def steps_of(run: Path) -> int:
    from animegen.runs import last_step, read_metrics

    return last_step(read_metrics(run))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="wall-clock training time per run")
    ap.add_argument("--repeats", type=int, default=1, help="alternations of the two modes")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "side_by_side.json"))
    args = ap.parse_args()

    import torch

    from animegen.cpus import usable_cores
    from animegen.data.sources import open_source
    from animegen.demo import demo_config, gan_config
    from animegen.fsutil import atomic_write_json
    from animegen.progress import set_quiet
    from animegen.train.device import machine_line
    from animegen.train.side_by_side import train_side_by_side
    from animegen.train.trainer import train

    set_quiet(True)
    source = "synth:8000:0"
    images = open_source(source, size=64, channels=3)
    minutes = args.seconds / 60
    rows = []
    with tempfile.TemporaryDirectory(prefix="side_by_side-") as tmp:
        for rep in range(args.repeats):
            for mode in ("one after the other", "side by side"):
                vae, gan = demo_config(minutes, len(images), 64, 0, source=source), gan_config(minutes, source, 64, 0)
                out = Path(tmp) / f"{rep}-{mode.replace(' ', '_')}"
                load0, t0 = os.getloadavg()[0], time.time()
                if mode == "side by side":
                    vae_dir, gan_dir = train_side_by_side(vae, gan, out, data=images)
                else:
                    vae_dir, gan_dir = train(vae, out, data=images), train(gan, out, data=images)
                row = {"mode": mode, "repeat": rep, "threads_per_run": torch.get_num_threads()
                       if mode != "side by side" else max(1, usable_cores() // 2),
                       "vae_steps": steps_of(vae_dir), "gan_steps": steps_of(gan_dir),
                       "wall_s": round(time.time() - t0, 1), "load_before": round(load0, 2)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    result = {"command": "python benchmarks/bench_side_by_side.py " + " ".join(sys.argv[1:]),
              "machine": machine_line(), "cores": usable_cores(), "seconds_per_run": args.seconds, "rows": rows}
    atomic_write_json(Path(args.out), result, mark=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
