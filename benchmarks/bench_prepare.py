"""Speed of ``animegen prepare``, of the face detectors, and of loading a prepared dataset.

    .venv/bin/python benchmarks/bench_prepare.py                 # everything (a few minutes on 2 cores)
    .venv/bin/python benchmarks/bench_prepare.py --scenes 40     # quicker detection part

Needs the shared test data (``../shared/data`` or ``$ANIMEGEN_SHARED_DATA``). Measures

(a) ``prepare --crop none`` images/s on the 16,052 real 64 px faces: from the extracted folder with 1
    and 2 workers, and straight from the tar with 2 workers (single-worker rows also give images per
    CPU-second, which other jobs on a shared machine disturb much less);
(b) each detector backend on synthetic illustrations (real faces upscaled 2–4× and pasted on cluttered
    640×480 backgrounds at known places): images/s and recall (IoU ≥ 0.3 or centre inside), precision;
    plus the 64 px pass rate (``pad=0.25``) on real crops and on noise — the metrics use case;
(c) loading the prepared dataset (``load_prepared``: memory-mapped; and a full ``np.load``).

Writes ``benchmarks/results/prepare.json``. ``--smoke --out PATH`` checks the script in seconds: parts (a)
and (c) on 48 built-in synthetic faces, no shared data, no detector.
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from animegen.data.detect import make_detector  # noqa: E402
from animegen.data.detect_eval import evaluate, make_scenes  # noqa: E402
from animegen.data.pipeline import PrepareOptions  # noqa: E402
from animegen.data.prepare import prepare  # noqa: E402
from animegen.data.prepared import load_prepared  # noqa: E402
from animegen.errors import AnimegenError  # noqa: E402
from animegen.fsutil import atomic_write_json  # noqa: E402

SHARED = Path(os.environ.get("ANIMEGEN_SHARED_DATA", REPO.parent / "shared" / "data"))


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return []


def bench_prepare(source: str, label: str, workers: int, tmp: Path) -> dict:
    load0 = _load()
    c0, t0 = time.process_time(), time.perf_counter()
    rep = prepare(source, tmp / f"ds-{label}-{workers}", PrepareOptions(size=64), workers=workers, quiet=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    row = {"part": "prepare", "source": label, "crop": "none", "workers": workers, "inputs": rep.inputs,
           "kept": rep.count, "dropped": rep.dropped, "seconds": round(wall, 2),
           "img_per_s": round(rep.inputs / wall, 1), "fingerprint": rep.fingerprint[:16],
           "load_before": load0, "load_after": _load()}
    if workers == 1:
        row["cpu_img_per_s"] = round(rep.inputs / cpu, 1)
    print(row, flush=True)
    return row


def read_faces(tar: Path, start: int, n: int) -> np.ndarray:
    out = []
    with tarfile.open(tar) as tf:
        k = 0
        for m in tf:
            if m.isfile() and m.name.endswith(".jpg"):
                if k >= start:
                    out.append(np.asarray(Image.open(io.BytesIO(tf.extractfile(m).read())).convert("RGB")))
                    if len(out) == n:
                        break
                k += 1
    return np.stack(out)


def bench_detect(tar: Path, cascade: Path, n_scenes: int) -> list[dict]:
    faces = read_faces(tar, 8000, 1000)
    scenes = make_scenes(faces, n_scenes, seed=2024, size=(640, 480), scale=(2.0, 4.0))
    crops = faces[:300]
    noise = np.random.default_rng(0).integers(0, 256, (100, 64, 64, 3), dtype=np.uint8)
    rows = []
    for backend in ("animeface", "cascade"):
        try:
            det = make_detector(backend, cascade=cascade, min_size=40)
            small = make_detector(backend, cascade=cascade, pad=0.25, min_size=16)
        except AnimegenError as exc:
            rows.append({"part": "detect", "backend": backend, "skipped": str(exc)})
            continue
        det.detect(scenes[0].image)  # warm-up
        load0 = _load()
        c0 = time.process_time()
        r = evaluate(det, scenes)
        cpu = time.process_time() - c0
        t0 = time.perf_counter()
        hits = sum(bool(small.detect(Image.fromarray(a))) for a in crops)
        t_small = time.perf_counter() - t0
        false = sum(bool(small.detect(Image.fromarray(a))) for a in noise)
        row = {"part": "detect", "backend": backend, "scenes": r["images"], "scene_size": [640, 480],
               "faces_placed": r["faces"], "face_px": "128-256", "recall": round(r["recall"], 3),
               "precision": round(r["precision"], 3), "img_per_s": round(r["images_per_s"], 2),
               "cpu_img_per_s": round(r["images"] / cpu, 2),
               "crops64_pass_rate": round(hits / len(crops), 3), "crops64_img_per_s": round(len(crops) / t_small, 1),
               "noise64_false_rate": round(false / len(noise), 3), "load_before": load0, "load_after": _load()}
        print(row, flush=True)
        rows.append(row)
    return rows


def bench_load(folder: Path) -> dict:
    import subprocess

    # a fresh interpreter each time, so nothing is cached in Python (the OS page cache is warm)
    code = (
        "import time,sys; sys.path.insert(0, {src!r}); t=time.perf_counter();"
        "from animegen.data.prepared import load_prepared; t1=time.perf_counter();"
        "ds=load_prepared({folder!r}); t2=time.perf_counter(); s=int(ds.images[::97].sum()); t3=time.perf_counter();"
        "import numpy as np; a=np.load({npy!r}); t4=time.perf_counter();"
        "print(t2-t1, t3-t2, t4-t3, ds.images.shape[0])"
    ).format(src=str(REPO / "src"), folder=str(folder), npy=str(folder / "images.npy"))
    best = None
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        vals = [float(v) for v in out[:3]]
        best = vals if best is None or vals[0] < best[0] else best
    row = {
        "part": "load",
        "images": int(out[3]),
        "shape": list(load_prepared(folder).images.shape),
        "load_prepared_mmap_s": round(best[0], 4),
        "touch_every_97th_s": round(best[1], 4),
        "np_load_full_s": round(best[2], 4),
        "bytes": (folder / "images.npy").stat().st_size,
    }
    print(row, flush=True)
    return row


def smoke() -> dict:
    """Parts (a) and (c) on a tiny folder of built-in synthetic faces (no shared data, no detector)."""
    from animegen.data.synthetic import render_faces

    with tempfile.TemporaryDirectory(prefix="bench-prepare-smoke-") as td:
        tmp = Path(td)
        folder = tmp / "faces"
        folder.mkdir()
        images, _ = render_faces(48, size=64, seed=0)  # uint8 [48, 64, 64, 3]
        for i, a in enumerate(images):
            Image.fromarray(a).save(folder / f"{i:03d}.png")
        rows = [bench_prepare(str(folder), "folder", 1, tmp), bench_load(tmp / "ds-folder-1")]
    return {"benchmark": "prepare", "smoke": True, "command": "benchmarks/bench_prepare.py " + " ".join(sys.argv[1:]),
            "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=120, help="synthetic illustrations for the detector part")
    ap.add_argument("--skip-prepare", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/prepare.json")
    ap.add_argument("--smoke", action="store_true", help="seconds-long check of parts (a) and (c) on synthetic "
                    "faces; needs --out")
    args = ap.parse_args()
    if args.smoke:
        if args.out is None:
            ap.error("--smoke needs --out PATH (smoke numbers never go to benchmarks/results/)")
        atomic_write_json(args.out, smoke())
        print(f"wrote {args.out}")
        return
    tar, cascade = SHARED / "anime-faces-64.tar", SHARED / "detect" / "lbpcascade_animeface.xml"
    if not tar.is_file():
        sys.exit(f"shared data not found at {SHARED} (set ANIMEGEN_SHARED_DATA)")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as td:
        tmp = Path(td)
        with tarfile.open(tar) as tf:
            tf.extractall(tmp, filter="data")
        folder = tmp / "anime-faces-64"
        if not args.skip_prepare:
            prepare(
                str(folder), tmp / "warm", PrepareOptions(size=64, limit=200), workers=2, quiet=True
            )  # start the pool's server
            for workers in (1, 2):
                rows.append(bench_prepare(str(folder), "folder", workers, tmp))
            rows.append(bench_prepare(str(tar), "tar", 2, tmp))
            rows.append(bench_load(tmp / "ds-folder-2"))
        rows += bench_detect(tar, cascade, args.scenes)
    result = {
        "benchmark": "prepare",
        "command": "benchmarks/bench_prepare.py " + " ".join(sys.argv[1:]),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus_usable": len(os.sched_getaffinity(0)),
            "cpu_count": os.cpu_count(),
        },
        "note": "shared machine: 4 other engineers' jobs were running (see load averages); single-worker "
        "cpu_img_per_s is the least disturbed figure",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": rows,
    }
    out = args.out or REPO / "benchmarks" / "results" / "prepare.json"
    atomic_write_json(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
