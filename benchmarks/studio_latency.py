"""Server time of one Edit slider move in ``animegen studio`` (goal: < 100 ms for a 64 px face on CPU).

Two numbers, both on the bundled 64 px model with one thread:

* **handler**: ``Studio.edit`` in-process (apply the slider offsets to the code, decode, enlarge for the
  screen) plus the PNG encoding Gradio does for the reply: what the server computes per move;
* **http**: one client, ``POST /gradio_api/run/edit`` on loopback (the request a slider move sends; answered
  directly, without the queue), i.e. the handler plus the web server's parsing, PNG caching and serialisation.

Results go to ``benchmarks/results/studio_latency.json``.

    OMP_NUM_THREADS=1 python benchmarks/studio_latency.py --n 300
"""
from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from animegen.fsutil import atomic_write_json  # noqa: E402
from animegen.train.device import cpu_name  # noqa: E402


def stats(ms: list[float]) -> dict[str, float]:
    v = sorted(ms)

    def q(p: float) -> float:
        return round(v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))], 2)

    return {"n": len(v), "p50": q(50), "p95": q(95), "max": round(v[-1], 2)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300, help="slider moves per measurement")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "studio_latency.json")
    args = ap.parse_args(argv)
    import torch
    from PIL import Image

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from animegen.studio.catalog import scan
    from animegen.studio.handlers import Studio
    from animegen.studio.server import launch

    rng = random.Random(0)
    studio = Studio(scan(None))
    sess, names = studio.slider_names(None)  # builds the reference set once (not timed)
    sess, _ = studio.edit_base(sess, "seed", 0)
    handler = []
    for _ in range(args.n):
        values = [round(rng.uniform(-2, 2), 1) for _ in names]
        t0 = time.perf_counter()
        sess, img = studio.edit(sess, values)
        Image.fromarray(img).save(io.BytesIO(), format="PNG")
        handler.append((time.perf_counter() - t0) * 1000)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from studio_load import ApiClient

    port = _free_port()
    app = launch(None, port=port, block=False, quiet=True)
    try:
        client = ApiClient(port, "latency")
        client.call("edit_base", ["seed", 0, None])
        client.run("edit", [0.0] * 12)  # warm-up
        http = []
        for _ in range(args.n):
            values = [round(rng.uniform(-2, 2), 1) for _ in range(12)]
            t0 = time.perf_counter()
            client.run("edit", values)
            http.append((time.perf_counter() - t0) * 1000)
    finally:
        app.demo.close()
    face = studio.engine(sess).model.spec.size
    report = {"command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')} python "
                         f"benchmarks/studio_latency.py --n {args.n}",
              "machine": f"{cpu_name()}, {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}",
              "model": studio.engine(sess).describe(), "face_px": face, "sliders": len(names),
              "handler_ms": stats(handler), "http_ms": stats(http)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, report, mark=True)
    print(report)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
