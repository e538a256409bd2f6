"""Several run folders → one comparison page: loss curves overlaid, health overlaid, a metrics table and
each run's latest samples side by side (``animegen report RUN1 RUN2 ...``)."""
from __future__ import annotations

import statistics
from pathlib import Path

from animegen.report import media, plots
from animegen.report.html import Page, Section
from animegen.report.rundata import RunData
from animegen.report.sections import METRIC_ROWS, dig
from animegen.train.health import COLLAPSE_RATIO

COMPARE_FILE = "compare.html"
MAX_PANELS = 6


def _curves(runs: list[RunData]) -> Section | None:
    keys = {r.name: r.keys("train/") for r in runs}
    union = list(dict.fromkeys(k for r in runs for k in keys[r.name]))
    union.sort(key=lambda k: (k != "train/loss", -sum(k in v for v in keys.values())))  # shared terms first
    panels = {k.split("/", 1)[1]: {r.name: r.series(k) for r in runs if k in keys[r.name]} for k in union[:MAX_PANELS]}
    panels = {t: lines for t, lines in panels.items() if any(len(s[0]) for s in lines.values())}
    if not panels:
        return None
    return Section("Loss curves").image(plots.curves_png(panels, xmax=max(r.last_step for r in runs) or None),
                                        "each logged term, one colour per run (terms the runs share first; "
                                        "EMA-smoothed over the raw values)", plot=True)


def _health(runs: list[RunData]) -> Section | None:
    div = {r.name: r.series("health/diversity_ratio") for r in runs}
    lr = {r.name: r.series("lr_scale") for r in runs}
    if not any(s[0] for s in div.values()) and not any(s[0] for s in lr.values()):
        return None
    rollbacks = [float(e["step"]) for r in runs for e in r.events("rollback")]
    return Section("Training health").image(
        plots.health_png(div, lr, rollbacks, threshold=COLLAPSE_RATIO, xmax=max(r.last_step for r in runs) or None),
        "sample diversity over real data's, and the learning-rate scale (rollbacks marked)", plot=True)


def _table(runs: list[RunData]) -> Section:
    rows = []
    for r in runs:
        rate = r.series("perf/img_per_s")[1]
        ratio = r.series("health/diversity_ratio")[1]
        ev = r.evaluation or {}
        rows.append([r.name, r.family, r.last_step, statistics.median(rate) if rate else None,
                     ratio[-1] if ratio else None, len(r.events("rollback"))]
                    + [dig(ev, path) for _, path in METRIC_ROWS[:6]])
    header = ["run", "family", "steps", "img/s", "diversity ratio", "rollbacks"] + [m for m, _ in METRIC_ROWS[:6]]
    sec = Section("Metrics").table(header, rows)
    if not all(r.evaluation for r in runs):
        sec.text("Empty FID/KID cells: that run has no metrics.json yet (animegen evaluate RUN/final.safetensors).",
                 cls="muted")
    return sec


def _samples(runs: list[RunData]) -> Section | None:
    sec = Section("Latest samples")
    for r in runs:
        if r.sample_grids:
            step, path = r.sample_grids[-1]
            sec.image(media.png_bytes(media.thumbnail(path, 320)), f"{r.name}, step {step}")
    return sec if sec.parts else None


def build_comparison(run_dirs: list[str | Path]) -> Page:
    runs = [RunData.load(d) for d in run_dirs]
    page = Page("animegen run comparison", " · ".join(f"{r.name} ({r.family}, step {r.last_step})" for r in runs))
    for part in (_samples(runs), _curves(runs), _health(runs), _table(runs)):
        page.add(part)
    return page


def default_compare_path(run_dirs: list[str | Path]) -> Path:
    """``compare.html`` in the folder holding the first run (usually the shared ``runs/``)."""
    return Path(run_dirs[0]).resolve().parent / COMPARE_FILE


def write_comparison(run_dirs: list[str | Path], out: str | Path | None = None) -> Path:
    from animegen.fsutil import check_output

    target = check_output(Path(out) if out else default_compare_path(run_dirs), run_dirs, kind="file")
    return build_comparison(run_dirs).write(target)
