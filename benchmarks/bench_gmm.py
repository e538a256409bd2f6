"""CPU time and peak memory of one Gaussian-mixture fit (``animegen.latent.gmm.fit_gmm``) at the size the trainer's
full exports fit on real faces: 21,964 codes (10,982 training faces and their mirrors) of 128 dimensions, 16
full-covariance components, 1 thread.

    .venv/bin/python benchmarks/bench_gmm.py                 # writes benchmarks/results/gmm_fit.json
    .venv/bin/python benchmarks/bench_gmm.py --smoke         # seconds: a tiny fit, results in a temp folder

The codes are random (a seeded Gaussian cluster per component), so the EM's iteration count differs from real
codes'; the cost per iteration is what compares across versions. Run it once per process: ``peak_rss_mb`` is the
process's peak resident memory (``getrusage``), start-up included.
"""
from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codes", type=int, default=21964)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--components", type=int, default=16)
    ap.add_argument("--smoke", action="store_true", help="a tiny fit; results in a temporary folder unless --out")
    ap.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/gmm_fit.json")
    args = ap.parse_args()
    if args.smoke:
        args.codes, args.dim, args.components = 300, 8, 3
    if args.out is None:
        folder = Path(tempfile.mkdtemp()) if args.smoke else REPO / "benchmarks" / "results"
        args.out = folder / "gmm_fit.json"

    import torch

    from animegen.fsutil import atomic_write_json
    from animegen.latent.gmm import fit_gmm
    from animegen.train.device import machine_line

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    n, z, k = args.codes, args.dim, args.components
    centres = torch.randn(k, z, generator=g)  # [K, z]
    mix = torch.randn(z, z, generator=g) * 0.1  # [z, z]: correlated spread within a cluster
    codes = torch.randn(n, z, generator=g) @ mix + centres[torch.randint(k, (n,), generator=g)]  # [N, z]
    t0, cpu0 = time.perf_counter(), time.process_time()
    fit = fit_gmm(codes, k, "full", seed=0)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result = {"command": "python benchmarks/bench_gmm.py " + " ".join(sys.argv[1:]),
              "machine": machine_line(), "python_machine": platform.machine(), "threads": 1,
              "codes": n, "dim": z, "components": k, "fit_count": fit.count,
              "cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "peak_rss_mb": round(peak_kb / 1024)}
    atomic_write_json(args.out, result)
    print(result)


if __name__ == "__main__":
    main()
