"""A table across runs: FID, KID, precision, recall, sharpness, diversity, training stability.

Each argument is a run folder (``runs/vae-1``: reads ``metrics.json`` written by ``animegen evaluate``,
``metrics.jsonl`` written by the trainer and ``config.json``) or a ``metrics.json`` file itself.

Training stability, from ``metrics.jsonl`` (records ``{"step": ..., "<name>": value, ...}``):

* ``loss_cv`` — for each logged loss (a key containing ``loss``), the standard deviation over the
  last ``tail`` share (25 %) of its records divided by the mean absolute value there; the largest
  over the losses (a GAN's oscillating discriminator dominates). Lower is calmer;
* ``rollbacks`` — divergence rollbacks: the largest value of a counter key containing ``rollback``,
  or the number of records with ``"event": "rollback"``;
* ``nonfinite`` — records with a NaN/inf loss;
* ``diverged`` — whether the run ended with a ``"diverged"`` event; ``collapse_warnings`` — records
  flagged ``health/collapse_warning`` by the trainer.

When a run has no ``metrics.json`` yet, the diversity ratio falls back to the trainer's last
``health/diversity_ratio`` (a pixel-space ratio; the column says which).
"""
from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from animegen import runs
from animegen.errors import AnimegenError
from animegen.fsutil import read_text_limited

COLUMNS = [
    ("run", "run"), ("family", "model"), ("step", "steps"), ("fid", "FID ↓"), ("kid", "KID ↓"),
    ("kid_std", "KID ±"), ("precision", "precision ↑"), ("recall", "recall ↑"), ("is", "IS"),
    ("sharpness", "sharpness"), ("sharpness_real", "sharpness real"), ("diversity_ratio", "diversity ratio"),
    ("diversity_ratio_train", "diversity ratio (train log, pixels)"), ("detection", "face rate"),
    ("memorised", "memorised"), ("loss_cv", "loss CV (last 25%)"), ("rollbacks", "rollbacks"),
    ("diverged", "diverged"), ("n_generated", "N gen"), ("n_real", "N real"),
]


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(read_text_limited(path))  # a regular file, bounded: never a FIFO or a device
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnimegenError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise AnimegenError(f"{path}: expected a JSON object")
    return data


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def stability(records: list[dict], tail: float = 0.25) -> dict[str, Any]:
    """``{"loss_cv", "loss_cv_by_key", "rollbacks", "nonfinite", "steps"}`` from metric-log records."""
    losses: dict[str, list[float]] = {}
    nonfinite = 0
    rollbacks_counter = 0.0
    rollback_events = 0
    steps = None
    diverged = False
    collapse = 0
    last_div = None
    for r in records:
        if _num(r.get("step")) is not None:
            steps = max(steps or 0, int(r["step"]))
        event = str(r.get("event", "")).lower()
        if event.startswith("rollback"):
            rollback_events += 1
        diverged = diverged or event == "diverged"
        collapse += int(bool(_num(r.get("health/collapse_warning"))))
        if _num(r.get("health/diversity_ratio")) is not None:
            last_div = _num(r.get("health/diversity_ratio"))
        for k, v in r.items():
            if "rollback" in k.lower() and _num(v) is not None:
                rollbacks_counter = max(rollbacks_counter, float(v))
            if "loss" in k.lower():
                f = _num(v)
                if f is None:
                    if isinstance(v, (str, float)) and str(v).lower() in ("nan", "inf", "-inf"):
                        nonfinite += 1
                    continue
                losses.setdefault(k, []).append(f)
    cv = {}
    for k, vals in losses.items():
        part = vals[-max(2, int(math.ceil(len(vals) * tail))):]
        if len(part) < 2:
            continue
        mean = sum(part) / len(part)
        std = math.sqrt(sum((v - mean) ** 2 for v in part) / (len(part) - 1))
        cv[k] = std / max(abs(mean), 1e-8)
    return {"loss_cv": max(cv.values()) if cv else None, "loss_cv_by_key": cv,
            "rollbacks": int(max(rollbacks_counter, rollback_events)), "nonfinite": nonfinite, "steps": steps,
            "diverged": diverged, "collapse_warnings": collapse, "last_diversity_ratio": last_div}


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def collect(target: str | Path) -> dict[str, Any]:
    """One table row from a run folder or a metrics.json file."""
    p = Path(target).expanduser()
    if not p.exists():
        raise AnimegenError(f"{p}: no such run folder or metrics file")
    if p.is_dir():
        run_dir, mfile = p, p / "metrics.json"
    else:
        run_dir, mfile = p.parent, p
    metrics = _read_json(mfile) if mfile.is_file() else {}
    config = _read_json(run_dir / runs.CONFIG) if (run_dir / runs.CONFIG).is_file() else {}
    records = runs.read_metrics(run_dir)
    if not metrics and not records:
        raise AnimegenError(
            f"{p}: found neither metrics.json (run `animegen evaluate CKPT --out {run_dir}/metrics.json`) "
            "nor metrics.jsonl"
        )
    stab = stability(records)
    row = {
        "run": run_dir.name if p.is_dir() or mfile.name == "metrics.json" else p.stem,
        "path": str(p),
        "family": config.get("family") or _get(metrics, "model", "family"),
        "step": _get(metrics, "model", "step") or stab["steps"],
        "fid": _num(metrics.get("fid")),
        "kid": _num(metrics.get("kid")),
        "kid_std": _num(metrics.get("kid_std")),
        "precision": _num(metrics.get("precision")),
        "recall": _num(metrics.get("recall")),
        "is": _num(metrics.get("is")),
        "sharpness": _num(_get(metrics, "sharpness", "laplacian_var")),
        "sharpness_real": _num(_get(metrics, "sharpness", "laplacian_var_real")),
        "diversity_ratio": _num(_get(metrics, "diversity", "ratio")),
        "diversity_ratio_train": stab["last_diversity_ratio"],
        "detection": _num(_get(metrics, "detection", "rate")),
        "memorised": _num(_get(metrics, "memorisation", "memorised_fraction")),
        "loss_cv": stab["loss_cv"],
        "rollbacks": stab["rollbacks"] if records else None,
        "diverged": ("yes" if stab["diverged"] else "no") if records else None,
        "n_generated": _get(metrics, "protocol", "n_generated"),
        "n_real": _get(metrics, "protocol", "n_real"),
        "weights_sha1": _get(metrics, "protocol", "weights_sha1"),
        "real_fingerprint": _get(metrics, "protocol", "real_fingerprint"),
        "stability": stab,
    }
    return row


def compare(targets: Sequence[str | Path]) -> tuple[list[dict], list[str]]:
    """Rows for all targets, plus warnings (e.g. FIDs measured against different references)."""
    if not targets:
        raise AnimegenError("name at least one run folder or metrics.json")
    rows = [collect(t) for t in targets]
    warnings = []
    for key, what in (
        ("weights_sha1", "Inception weights"),
        ("real_fingerprint", "real reference sets"),
        ("n_generated", "numbers of generated samples"),
        ("n_real", "numbers of real images"),
    ):
        vals = {str(r[key]) for r in rows if r.get(key) is not None}
        if len(vals) > 1:
            warnings.append(
                f"runs were evaluated with different {what} ({', '.join(sorted(vals))}): "
                "FID/KID are not directly comparable"
            )
    return rows, warnings


def fmt(key: str, v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if key in ("kid", "kid_std"):
            return f"{v:.4f}"
        if key in (
            "precision",
            "recall",
            "detection",
            "memorised",
            "diversity_ratio",
            "diversity_ratio_train",
            "loss_cv",
        ):
            return f"{v:.3f}"
        return f"{v:.2f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def to_markdown(rows: list[dict], warnings: Sequence[str] = ()) -> str:
    cols = [(k, h) for k, h in COLUMNS if any(r.get(k) is not None for r in rows)]
    lines = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(k, r.get(k)) for k, _ in cols) + " |")
    out = "\n".join(lines) + "\n"
    if warnings:
        out += "\n" + "\n".join(f"> warning: {w}" for w in warnings) + "\n"
    return out


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    keys = [k for k, _ in COLUMNS] + ["path"]
    w = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in keys})
    return buf.getvalue()
