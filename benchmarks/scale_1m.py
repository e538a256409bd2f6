"""Scale check: a 1,000,000-image dataset of built-in faces, ``prepare`` it, ``train`` on it.

    python benchmarks/scale_1m.py --work /path/to/scratch --n 1000000          # everything, resumable
    python benchmarks/scale_1m.py --work /path/to/scratch --n 50000 --steps 200 # the same at 50k first

Steps (each skipped when its output is already there, so the script continues after a kill):

1. ``source``: ``--n`` PNG files (64 px) in shards of 10,000 (``shard-000/000000.png`` …), each shard
   written under a temporary name and renamed when complete. File ``i`` is built-in face ``i // 10``
   (seed 0) shifted by ``2·(v // 2) − 4`` px and mirrored when ``v`` is odd (``v = i % 10``): 1M distinct
   files from 100k renders (rendering is ~3 ms a face, the slow part).
2. ``prepare``: ``animegen prepare SOURCE --crop none --no-dedup --val-fraction 0.05 -j 2`` timed (wall and
   CPU of the process tree); with ``--kill-after S`` it is first killed (SIGKILL) after S seconds and
   started again with the same command, which must continue (the report shows the images it skipped).
3. ``train``: ``animegen train --config configs/gan-recommended.toml`` for ``--steps`` steps, 1 thread, on
   the prepared 1M dataset and on a 16k-image prepared dataset of the same faces; peak resident memory
   (``ru_maxrss`` of the child) and img/s per CPU-second and wall of each.

Writes ``--results`` (JSON, default ``benchmarks/results/scale_1m.json``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARD = 10_000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


VARIANTS = 10  # files per rendered face: mirror × 5 horizontal shifts, so 1M files need 100k renders


def variants(face):
    """The VARIANTS distinct images made from one face ``[H, W, 3]``: shifts of -4..4 px, mirrored or not."""
    import numpy as np

    out = []
    for v in range(VARIANTS):
        im = np.roll(face, 2 * (v // 2) - 4, axis=1)
        out.append(np.ascontiguousarray(im[:, ::-1]) if v % 2 else im)
    return out


def _write_shard(job: tuple[str, int, int]) -> int:
    """Worker: the shard of files ``first .. first+count-1`` (face ``i // VARIANTS``, variant ``i % VARIANTS``)."""
    from animegen.data.synthetic import _png_bytes, png_name, render_faces

    folder, first, count = job
    final = Path(folder) / f"shard-{first // SHARD:03d}"
    if final.is_dir():
        return 0
    tmp = Path(folder) / f".{final.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    f0, f1 = first // VARIANTS, (first + count - 1) // VARIANTS + 1
    faces, _ = render_faces(f1 - f0, size=64, seed=0, start=f0, workers=1)
    for i in range(first, first + count):
        im = variants(faces[i // VARIANTS - f0])[i % VARIANTS]
        (tmp / png_name(i)).write_bytes(_png_bytes(im))
    os.replace(tmp, final)
    return count


def make_source(folder: Path, n: int, workers: int) -> dict:
    """The PNG folder of images 0..n-1 in shards of SHARD files; a finished shard is never written again."""
    import multiprocessing as mp

    folder.mkdir(parents=True, exist_ok=True)
    t0, c0, done = time.perf_counter(), _cpu(), 0
    jobs = [(str(folder), s, min(SHARD, n - s)) for s in range(0, n, SHARD)
            if not (folder / f"shard-{s // SHARD:03d}").is_dir()]
    with mp.get_context("fork").Pool(workers) as pool:
        for k in pool.imap_unordered(_write_shard, jobs):
            done += k
            log(f"source: wrote {done:,} of {sum(j[2] for j in jobs):,} files still missing")
    return {"files": n, "rendered_faces": -(-n // VARIANTS), "written_now": done,
            "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(_cpu() - c0, 1)}


def _cpu() -> float:
    """CPU seconds of this process and its finished children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def run_child(cmd: list[str], log_path: Path, kill_after: float | None = None) -> dict:
    """Run ``cmd`` (its own process group); wall, CPU and peak RSS of it and its waited-for children.

    ``kill_after``: SIGKILL the whole group after that many seconds (a crash that runs no handler)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    log(("$ " + " ".join(cmd)) + (f"   (SIGKILL after {kill_after:g} s)" if kill_after else ""))
    t0 = time.perf_counter()
    with open(log_path, "a") as fh:
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        killed = False
        tree = TreeCPU(p.pid)
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)  # reaps it with its rusage (Popen.poll would not)
            if pid:
                break
            tree.sample()
            if kill_after and not killed and time.perf_counter() - t0 >= kill_after:
                os.killpg(p.pid, signal.SIGKILL)
                killed = True
            time.sleep(0.5)
        p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    return {"cmd": " ".join(cmd), "rc": os.waitstatus_to_exitcode(status), "killed": killed,
            "wall_s": round(wall, 2), "cpu_s": round(max(tree.total(), ru.ru_utime + ru.ru_stime), 2),
            # VmHWM sampled every 0.5 s (ru_maxrss of a child also counts the parent's RSS at fork time)
            "peak_rss_mb_main": round(tree.hwm_kb / 1024, 1), "peak_rss_mb_workers": round(tree.worker_rss / 2**20, 1)}


class TreeCPU:
    """CPU seconds of a process and all its descendants (forkserver workers are not waited for by the
    parent, so rusage misses them): the last sample of each pid, taken every half second."""

    def __init__(self, pid: int):
        import psutil

        self.root = psutil.Process(pid)
        self.seen: dict[int, float] = {}
        self.worker_rss = 0
        self.hwm_kb = 0  # VmHWM of the process itself (its own peak RSS since exec)

    def sample(self) -> None:
        import psutil

        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        try:
            with open(f"/proc/{self.root.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        self.hwm_kb = max(self.hwm_kb, int(line.split()[1]))
        except OSError:
            pass
        for pr in procs:
            try:
                t = pr.cpu_times()
                self.seen[pr.pid] = t.user + t.system
                if pr.pid != self.root.pid:
                    self.worker_rss = max(self.worker_rss, pr.memory_info().rss)
            except psutil.Error:
                pass

    def total(self) -> float:
        return sum(self.seen.values())


def prepare_step(source: Path, out: Path, limit: int | None, workers: int, kill_after: float | None) -> dict:
    if (out / "manifest.json").is_file():
        return {"skipped": "already prepared", "count": json.loads((out / "manifest.json").read_text())["count"]}
    cmd = [sys.executable, "-m", "animegen", "prepare", str(source), "--size", "64", "--crop", "none", "--no-dedup",
           "--val-fraction", "0.05", "--seed", "0", "-j", str(workers), "--out", str(out)]
    if limit:
        cmd += ["--limit", str(limit)]
    runs = []
    partial = out.parent / f".{out.name}.prepare-partial" / "journal.json"
    if kill_after:
        runs.append(run_child(cmd, out.parent / f"{out.name}.prepare.log", kill_after))
        runs[-1]["inputs_checkpointed"] = json.loads(partial.read_text())["inputs"] if partial.exists() else 0
    runs.append(run_child(cmd, out.parent / f"{out.name}.prepare.log"))
    if runs[-1]["rc"] != 0:
        sys.exit(f"prepare failed: {runs[-1]}")
    m = json.loads((out / "manifest.json").read_text())
    count, skipped = m["count"], runs[0].get("inputs_checkpointed", 0)
    last = runs[-1]
    return {"count": count, "runs": runs, "resumed_from": skipped,
            "img_per_s_wall_last_run": round((m["stats"]["inputs"] - skipped) / last["wall_s"], 1),
            "img_per_cpu_s_last_run": round((m["stats"]["inputs"] - skipped) / max(last["cpu_s"], 1e-9), 1),
            "images_npy_bytes": (out / "images.npy").stat().st_size}


def train_pair(datasets: dict[str, Path], work: Path, steps: int) -> dict:
    """The recommended GAN on each dataset, side by side (same load), 1 thread each, ``steps`` steps."""
    procs = {}
    for name, ds in datasets.items():
        cmd = [sys.executable, "-m", "animegen", "-q", "train", "--config", str(REPO / "configs/gan-recommended.toml"),
               "--data", str(ds), "--out", str(work / "runs"), "--name", f"scale-{name}",
               "--set", "train.threads=1", "--set", f"train.steps={steps}", "--set", "train.max_minutes=0",
               "--set", "train.sample_every=0", "--set", "train.checkpoint_every=0", "--set", "train.eval_every=0",
               "--set", "train.log_every=25"]
        procs[name] = cmd
    import threading

    from animegen.runs import newest_run_dir

    results: dict = {}
    threads = [threading.Thread(target=lambda n=n, c=c: results.__setitem__(n, run_child(c, work / f"train-{n}.log")))
               for n, c in procs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in datasets:
        run = newest_run_dir(work / "runs", f"scale-{name}", holding="metrics.jsonl")
        if run is None:
            sys.exit(f"the {name} training left no run folder (see {work / f'train-{name}.log'})")
        rates = [json.loads(line).get("perf/img_per_s") for line in (run / "metrics.jsonl").read_text().splitlines()]
        rates = [r for r in rates if r][2:]  # the first windows include warm-up
        results[name]["img_per_s_median"] = round(float(sorted(rates)[len(rates) // 2]), 2) if rates else None
        results[name]["img_per_cpu_s"] = round(steps * 32 / results[name]["cpu_s"], 2)
        results[name]["run"] = str(run)
    return results


def tile_dataset(src: Path, out: Path, n: int) -> dict:
    """A prepared dataset of ``n`` rows made by repeating the rows of the prepared dataset ``src`` (for the
    training measurement when preparing ``n`` real files is not possible in the time at hand): the same bytes
    per row and the same file layout, so reading and training cost the same; the rows repeat."""
    import numpy as np

    from animegen.data.prepared import IMAGES, MANIFEST, read_manifest, write_manifest

    if (out / MANIFEST).is_file():
        return {"skipped": "exists"}
    out.mkdir(parents=True, exist_ok=True)
    base = np.load(src / IMAGES, mmap_mode="r")
    t0 = time.perf_counter()
    with open(out / IMAGES, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (n, *base.shape[1:])})
        left = n
        while left > 0:
            k = min(left, len(base))
            fh.write(np.ascontiguousarray(base[:k]).tobytes())
            left -= k
    m = read_manifest(src)
    val = np.sort(np.random.default_rng(0).permutation(n)[: n // 20])
    m.update({"count": n, "shape": [n, *base.shape[1:]], "fingerprint": f"tiled-{m['fingerprint'][:16]}-{n}",
              "name": out.name, "files": [], "split": {"seed": 0, "val_fraction": 0.05, "val": val.tolist()},
              "source": {"tiled_from": str(src)}})
    write_manifest(out / MANIFEST, m)
    return {"rows": n, "from": str(src), "write_s": round(time.perf_counter() - t0, 1),
            "images_npy_bytes": (out / IMAGES).stat().st_size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (needs ~35 GB for 1M images)")
    ap.add_argument("--n", type=int, default=1_000_000, help="images in the source folder")
    ap.add_argument("--limit", type=int, default=None, help="prepare only the first LIMIT (a trial at 50k)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kill-after", type=float, default=None, help="SIGKILL the first prepare after S seconds")
    ap.add_argument("--steps", type=int, default=400, help="training steps on each dataset")
    ap.add_argument("--only", choices=["source", "prepare", "train", "train-tiled"], default=None)
    ap.add_argument("--tile-from", type=Path, default=None,
                    help="with --only train-tiled: a prepared dataset whose rows are repeated to --n rows")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "scale_1m.json")
    args = ap.parse_args()
    n_big = args.limit or args.n
    src = args.work / f"faces-{args.n}"
    big, small = args.work / f"prepared-{n_big}", args.work / "prepared-16000"
    out: dict = {"command": "python benchmarks/scale_1m.py " + " ".join(sys.argv[1:]),
                 "machine": f"{platform.machine()}, {os.cpu_count()} cores", "load_before": os.getloadavg()}
    if args.only in (None, "source"):
        out["source"] = make_source(src, args.n, args.workers)
    if args.only in (None, "prepare"):
        out["prepare"] = prepare_step(src, big, args.limit, args.workers, args.kill_after)
        out["prepare_16k"] = prepare_step(src, small, 16000, args.workers, None)
    if args.only == "train-tiled":
        tiled = args.work / f"tiled-{args.n}"
        out["tiled"] = tile_dataset(args.tile_from, tiled, args.n)
        out["train"] = train_pair({"16k": small, f"{args.n // 1000}k-tiled": tiled}, args.work, args.steps)
    if args.only in (None, "train"):
        out["train"] = train_pair({"16k": small, f"{n_big // 1000}k": big}, args.work, args.steps)
    out["load_after"] = os.getloadavg()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    from animegen.fsutil import atomic_write_json

    atomic_write_json(args.results, out, mark=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
