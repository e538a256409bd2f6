"""Write an experiment's report section: ``OUT/NAME/report.md`` (verdict table first, then setup, notes, images)
and ``OUT/NAME/result.json`` (rows, numbers, image paths), both marked as animegen's; the images the experiment
saved through :meth:`Context.file` sit beside them. ``write_index`` writes ``OUT/README.md`` linking the sections.
"""
from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from animegen.experiments.core import Context, Experiment, Result, Row

REPORT = "report.md"
RESULT = "result.json"
MD_MARK = "<!-- written by animegen -->"
HEADER = ("claim", "article", "ours", "setup", "verdict", "why")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def verdict_table(rows: list[Row]) -> str:
    """The Markdown verdict table: claim | article | ours | setup | verdict | why."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(getattr(r, h)) for h in HEADER) + " |")
    return "\n".join(lines)


def fmt(x: float, digits: int = 3) -> str:
    """A number for a table cell: 3 significant digits (whole numbers from 1000 on), no exponent below 1e5."""
    if x is None or not math.isfinite(float(x)):
        return str(x)
    x = float(x)
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        return f"{x:.{digits - 1}e}"
    if abs(x) >= 10 ** digits:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def _clean(obj: Any) -> Any:
    """JSON-safe: Paths to strings, non-finite floats to None (strict JSON), tuples to lists."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return _clean(obj.item())
    return obj


def write_section(exp: Experiment, ctx: Context, result: Result, facts: dict[str, Any]) -> Path:
    """Write ``report.md`` and ``result.json`` of ``exp`` into ``ctx.section_dir``; returns the Markdown path.

    ``facts``: how it ran (command, budget scale, wall and CPU seconds, threads, machine), shown under the table.
    """
    from animegen.fsutil import atomic_write_json, atomic_write_text

    folder = ctx.section_dir
    folder.mkdir(parents=True, exist_ok=True)
    images = {cap: Path(p).resolve().relative_to(folder.resolve()) if Path(p).resolve().is_relative_to(
        folder.resolve()) else Path(p) for cap, p in result.images.items()}
    md = [MD_MARK, f"## {exp.name} (seed {exp.seed}): {exp.title}", "", verdict_table(result.rows), ""]
    md += ["**Setup.** " + "; ".join(f"{k}: {_cell(v)}" for k, v in facts.items()), ""]
    if result.notes:
        md += [f"- {n}" for n in result.notes] + [""]
    for cap, rel in images.items():
        md += [f"**{cap}**", "", f"![{_cell(cap)}]({rel.as_posix()})", ""]
    path = folder / REPORT
    atomic_write_text(path, "\n".join(md))
    atomic_write_json(folder / RESULT, _clean({
        "experiment": exp.name, "seed": exp.seed, "title": exp.title, "facts": facts,
        "rows": [asdict(r) for r in result.rows], "numbers": result.numbers,
        "images": {cap: rel.as_posix() for cap, rel in images.items()}, "notes": result.notes}), mark=True)
    return path


def write_index(out: Path, entries: list[tuple[Experiment, Path, float]]) -> Path:
    """``OUT/README.md``: one line per experiment run (name, seed, wall seconds, link to its section)."""
    from animegen.fsutil import atomic_write_text

    lines = [MD_MARK, "# animegen experiments", "", "| experiment | seed | wall s | section |", "|---|---|---|---|"]
    for exp, md, secs in entries:
        lines.append(f"| {exp.name} | {exp.seed} | {secs:.0f} | [{exp.title}]({md.relative_to(out).as_posix()}) |")
    path = out / "README.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
