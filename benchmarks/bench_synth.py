"""Throughput of the procedural face renderer (images/s) by size and worker count.

    .venv/bin/python benchmarks/bench_synth.py                      # sizes 32/64/128, 1 and 2 workers
    .venv/bin/python benchmarks/bench_synth.py --n 500 --sizes 64   # quicker

Writes ``benchmarks/results/synth.json``. Each configuration renders images 0..N-1 in memory (the
``synth:N`` path); ``write_png`` rows also encode and write PNGs (the ``animegen synth`` path). Besides
wall-clock images/s, rows report ``cpu_img_per_s``: images per CPU-second summed over this process and
its worker processes, which other jobs on a shared machine disturb much less than wall time, and
``projected_idle_img_per_s`` = workers x cpu_img_per_s (what the same work would give with that many
idle cores; a projection, not a measurement). Load averages are recorded before and after each row.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from animegen.data import synthetic as S  # noqa: E402
from animegen.data.synth_folder import write_dataset  # noqa: E402
from animegen.fsutil import atomic_write_json  # noqa: E402


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return []


def _cpu() -> float:
    """CPU seconds of this process plus its finished (reaped) children, i.e. the pool workers."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _row(mode: str, n: int, size: int, workers: int, wall: float, cpu: float, load0: list[float]) -> dict:
    cpu_rate = n / cpu
    return {"mode": mode, "size": size, "workers": workers, "n": n, "img_per_s": round(n / wall, 1),
            "seconds": round(wall, 3), "cpu_img_per_s": round(cpu_rate, 1),
            "projected_idle_img_per_s": round(cpu_rate * workers, 1), "load_before": load0, "load_after": _load()}


def bench_render(n: int, size: int, workers: int, repeats: int) -> dict:
    S.render_faces(min(n, 40), size, seed=0, workers=1)  # warm-up: imports, constant shapes
    best = (float("inf"), float("inf"))
    load0 = _load()
    for r in range(repeats):
        c0, t0 = _cpu(), time.perf_counter()
        S.render_faces(n, size, seed=r, workers=workers)
        best = min(best, (time.perf_counter() - t0, _cpu() - c0))
    row = _row("render", n, size, workers, best[0], best[1], load0)
    row["repeats"] = repeats
    return row


def bench_write(n: int, size: int, workers: int) -> dict:
    load0 = _load()
    with tempfile.TemporaryDirectory() as tmp:
        c0, t0 = _cpu(), time.perf_counter()
        write_dataset(Path(tmp) / "out", n, size, seed=0, workers=workers, progress=False)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
    return _row("write_png", n, size, workers, wall, cpu, load0)


def _print(row: dict) -> None:
    print(f"{row['mode']:9s} {row['size']:4d}px  workers={row['workers']}  {row['img_per_s']:7.1f} img/s wall, "
          f"{row['cpu_img_per_s']:6.1f} img/CPU-s (idle x{row['workers']}: {row['projected_idle_img_per_s']:6.1f})"
          f"  load {row['load_before']}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="images per configuration (halved at 128 px)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/synth.json")
    ap.add_argument("--smoke", action="store_true", help="seconds-long check that the script runs (tiny "
                    "sizes); needs --out")
    args = ap.parse_args(argv)
    if args.smoke:
        if args.out is None:
            ap.error("--smoke needs --out PATH (smoke numbers never go to benchmarks/results/)")
        args.n, args.sizes, args.workers, args.repeats = 8, [32], [1], 1
    args.out = args.out or REPO / "benchmarks" / "results" / "synth.json"

    rows = []
    for size in args.sizes:
        n = args.n if size <= 64 else max(1, args.n // 2)
        for w in args.workers:
            rows.append(bench_render(n, size, w, args.repeats))
            _print(rows[-1])
    if 64 in args.sizes:
        for w in args.workers:
            rows.append(bench_write(args.n, 64, w))
            _print(rows[-1])
    result = {
        "benchmark": "synth",
        "generator_version": S.GENERATOR_VERSION,
        "command": "benchmarks/bench_synth.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus_usable": S.default_workers(), "cpu_count": os.cpu_count(), "processor": platform.processor()},
        "note": "shared machine: other jobs were running (see load); cpu_img_per_s is the least disturbed figure",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": rows,
    }
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
