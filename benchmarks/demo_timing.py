"""Time ``animegen demo`` end to end, stage by stage, and optionally screenshot its page with headless Chromium.

    .venv/bin/python benchmarks/demo_timing.py                                   # default 4 minutes
    .venv/bin/python benchmarks/demo_timing.py --minutes 1 --out demo-1
    .venv/bin/python benchmarks/demo_timing.py --screenshot docs/images/demo_report.png

Runs the real command in a subprocess and records wall seconds per stage (from the time each ``[k/5]`` or
``[2-3/5]`` line appears), total wall and CPU seconds (the demo and its worker processes), the load average
before and after, and the steps each run reached. Writes ``benchmarks/results/demo.json``. A shared machine
stretches every stage (rendering and report writing) except training, whose budget is wall-clock: compare CPU
seconds and steps too.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from animegen.fsutil import atomic_write_json  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--hide-scrollbars"]


def screenshot(page: Path, out: Path, width: int = 1200, height: int = 1300) -> None:
    """The top ``height`` pixels of ``page`` as PNG, rendered by Debian chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("chromium not found (apt-get install -y chromium)")
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([chromium, *FLAGS, f"--window-size={width},{height}", f"--screenshot={out.resolve()}",
                    page.resolve().as_uri()], check=True, capture_output=True, timeout=300)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--out", type=Path, default=Path("demo-timing-out"))
    ap.add_argument("--screenshot", type=Path, default=None, help="also write a PNG of the page's top")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "demo.json")
    args = ap.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} is not empty; pass a new --out (a timing needs a fresh folder)")
    load_before = os.getloadavg()
    cmd = [sys.executable, "-m", "animegen", "demo", "--out", str(args.out), "--minutes", f"{args.minutes:g}"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    stages: dict[str, float] = {}
    steps: dict[str, int] = {}
    assert proc.stderr is not None
    for line in proc.stderr:
        sys.stderr.write(line)
        if m := re.match(r"\[(\d(?:-\d)?)/(\d)\] (.*)", line):
            stages[f"{m.group(1)}/{m.group(2)} {m.group(3).strip()}"] = round(time.perf_counter() - t0, 1)
        if m := re.match(r"done: step (\d+)/.*runs/(vae|gan)-demo-\d+/", line):  # side by side: either may end first
            steps[m.group(2)] = int(m.group(1))
    rc = proc.wait()
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"animegen demo exited {rc}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {"command": " ".join(cmd[1:]), "minutes": args.minutes, "wall_s": round(wall, 1),
              "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "stage_started_at_s": stages,
              "steps": steps, "load_before": load_before, "load_after": os.getloadavg(),
              "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "cores": os.cpu_count()}
    print(json.dumps(result, indent=2))
    atomic_write_json(args.results, result)
    if args.screenshot:
        screenshot(args.out / "index.html", args.screenshot)
        print(f"wrote {args.screenshot}")


if __name__ == "__main__":
    main()
