"""Load test of ``animegen studio`` on loopback: C concurrent clients × R requests each through the Gradio API.

Starts the real command (``python -m animegen studio --port P``, the bundled model) in a child process, waits for
HTTP 200, then runs C threads, each a plain HTTP client with its own keep-alive connection and session, sending R
requests: Edit slider moves (``POST /gradio_api/run/edit`` with random slider values, answered directly like the
browser's slider events) and every ``--generate-every``-th one a Generate of 8 faces (``/gradio_api/call/generate``
through the queue, result read from its event stream). Latency is measured per request at the client (send →
complete answer), errors are counted, and the numbers go to ``benchmarks/results/studio_load.json``.

    OMP_NUM_THREADS=1 python benchmarks/studio_load.py --clients 20 --requests 50
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from animegen.fsutil import atomic_write_json  # noqa: E402
from animegen.train.device import cpu_name  # noqa: E402

SLIDERS = 12


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"the studio exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"no HTTP 200 from {url} within {timeout:.0f} s")


def percentile(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q / 100 * (len(v) - 1)))))]


class ApiClient:
    """Plain HTTP to the Gradio API over one keep-alive connection, with its own session (``session_hash``)."""

    def __init__(self, port: int, session: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.session = session

    def _post(self, path: str, data: list) -> dict:
        body = json.dumps({"data": data, "session_hash": self.session}).encode()
        try:
            self.conn.request("POST", path, body, {"Content-Type": "application/json"})
            resp = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # the server closed an idle keep-alive connection before this request: reconnect once, as browsers do
            self.conn.close()
            self.conn.request("POST", path, body, {"Content-Type": "application/json"})
            resp = self.conn.getresponse()
        payload = json.loads(resp.read() or b"null")
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {str(payload)[:200]}")
        return payload

    def run(self, api: str, data: list) -> dict:
        """A direct (unqueued) endpoint: one POST, the answer in its body (the Edit sliders). The raw endpoint
        takes every input, the session State first (the server keeps its value; None is sent)."""
        return self._post(f"/gradio_api/run/{api}", [None, *data])

    def call(self, api: str, data: list) -> str:
        """A queued endpoint: POST, then read the event stream until it completes (Generate, Morph, ...)."""
        event = self._post(f"/gradio_api/call/{api}", data)["event_id"]
        stream = http.client.HTTPConnection("127.0.0.1", self.conn.port, timeout=60)
        try:
            stream.request("GET", f"/gradio_api/call/{api}/{event}")
            resp = stream.getresponse()
            kind = ""
            while True:
                line = resp.readline().decode()
                if not line:
                    raise RuntimeError(f"{api}: the event stream ended without a result")
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and kind in ("complete", "error"):
                    if kind == "error":
                        raise RuntimeError(f"{api}: {line[5:200].strip()}")
                    return line[5:].strip()
        finally:
            stream.close()


def client_loop(port: int, n: int, generate_every: int, seed: int, out: list, errors: list, barrier) -> None:
    rng = random.Random(seed)
    client = ApiClient(port, f"load-{seed}-{rng.randrange(1 << 30):x}")
    client.call("edit_base", ["seed", seed, None])  # this session's face
    client.run("edit", [0.0] * SLIDERS)  # warm: the first edit waits for the model's reference faces (built once)
    barrier.wait()
    for i in range(n):
        t0 = time.perf_counter()
        try:
            if generate_every and i % generate_every == generate_every - 1:
                client.call("generate", [rng.randrange(10_000), 8, 0.0, "best"])
                kind = "generate"
            else:
                client.run("edit", [round(rng.uniform(-2, 2), 1) for _ in range(SLIDERS)])
                kind = "edit"
            out.append((kind, (time.perf_counter() - t0) * 1000))
        except Exception as exc:  # counted, not fatal: the point is how many fail
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            client = ApiClient(port, client.session)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=50, help="requests per client")
    ap.add_argument("--generate-every", type=int, default=10, help="every k-th request is a Generate (0: never)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "studio_load.json")
    args = ap.parse_args(argv)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    cmd = [sys.executable, "-m", "animegen", "studio", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ready_s = wait_ready(url, proc)
        results: list[tuple[str, float]] = []
        errors: list[str] = []
        barrier = threading.Barrier(args.clients + 1)
        threads = [threading.Thread(target=client_loop, args=(port, args.requests, args.generate_every, i, results,
                                                              errors, barrier)) for i in range(args.clients)]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lat = [ms for _, ms in results]
    by_kind = {k: [ms for kk, ms in results if kk == k] for k in ("edit", "generate")}
    report = {
        "command": " ".join(["python", "benchmarks/studio_load.py", "--clients", str(args.clients), "--requests",
                             str(args.requests), "--generate-every", str(args.generate_every)]),
        "server": "python -m animegen studio --port P (bundled model, default queue)",
        "machine": f"{cpu_name()}, {os.cpu_count()} logical CPUs, OMP_NUM_THREADS={env['OMP_NUM_THREADS']}",
        "clients": args.clients, "requests_per_client": args.requests,
        "ok": len(lat), "errors": len(errors), "error_samples": errors[:5],
        "startup_to_http_200_s": round(ready_s, 2), "wall_s": round(wall, 2),
        "throughput_rps": round(len(lat) / wall, 1) if wall > 0 else None,
        "latency_ms": {"p50": round(percentile(lat, 50), 1), "p95": round(percentile(lat, 95), 1),
                       "max": round(max(lat), 1)} if lat else None,
        "by_kind": {k: {"n": len(v), "p50": round(percentile(v, 50), 1), "p95": round(percentile(v, 95), 1)}
                    for k, v in by_kind.items() if v},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, report, mark=True)
    print(report)


if __name__ == "__main__":
    main()
