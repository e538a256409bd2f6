"""How sure of itself a GAN's discriminator grows over a run: logged training scalars averaged per step range.

Reads a run folder's metrics.jsonl (what ``animegen train`` logs every ``train.log_every`` steps) and prints one
markdown row per ``--every`` steps with the mean of each key: by default D's mean probability on (augmented) real
and generated images, its loss, and the adaptive augmentation probability when the run has one. A D that calls
nearly every real image real and every fake fake (d_real → 1, d_fake → 0, loss_d → 0) is the overfitting
signal that adaptive augmentation (``model.ada_target``) steers against (Karras et al. 2020, §3).

    python benchmarks/d_confidence.py RUN_DIR [--every 5000] [--keys train/d_real train/loss_d] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from animegen.runs import read_metrics  # noqa: E402

KEYS = ("train/d_real", "train/d_fake", "train/loss_d", "train/loss_g", "train/ada_p", "lr_decay_factor")


def confidence_rows(records: list[dict], every: int, keys: tuple[str, ...] = KEYS) -> list[dict]:
    """One dict per step range ``[k·every, (k+1)·every)`` that has logged values: its start and each key's mean
    (keys never logged in the run are left out; a key missing from some records averages the others)."""
    if every < 1:
        raise ValueError("--every must be ≥ 1")
    buckets: dict[int, dict[str, list[float]]] = {}
    for r in records:
        values = {k: r[k] for k in keys if isinstance(r.get(k), (int, float)) and math.isfinite(r[k])}
        if values and isinstance(r.get("step"), int):
            bucket = buckets.setdefault(r["step"] // every, {})
            for k, v in values.items():
                bucket.setdefault(k, []).append(float(v))
    return [{"from_step": b * every, **{k: sum(v) / len(v) for k, v in sorted(vals.items())}}
            for b, vals in sorted(buckets.items())]


def markdown(rows: list[dict]) -> str:
    keys = [k for k in KEYS if any(k in r for r in rows)] + sorted({k for r in rows for k in r} - set(KEYS)
                                                                    - {"from_step"})
    lines = ["| from step | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {r['from_step']:,} | " + " | ".join(f"{r[k]:.3f}" if k in r else "" for k in keys) + " |"
              for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="a run folder written by animegen train")
    ap.add_argument("--every", type=int, default=5000, help="steps per row (default 5000)")
    ap.add_argument("--keys", nargs="+", default=list(KEYS), help="logged keys to average")
    ap.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    if not (args.run / "metrics.jsonl").is_file():
        print(f"error: {args.run} has no metrics.jsonl (is it a run folder?)", file=sys.stderr)
        return 2
    try:
        rows = confidence_rows(read_metrics(args.run), args.every, tuple(args.keys))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps({"run": str(args.run), "every": args.every, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
