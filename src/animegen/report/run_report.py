"""One run folder → one self-contained HTML page (``animegen report RUN_DIR``, and the end of ``animegen train``).

The page is the sections of :data:`SECTIONS`, in order; a section function returns ``None`` when it does not
apply. A section that fails is replaced by a one-line note (and a warning), so one broken part never costs
the whole page.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from animegen.progress import info
from animegen.report import latent_sections as L
from animegen.report import sections as S
from animegen.report.html import Page, Section
from animegen.report.rundata import RunData

SectionFn = Callable[[RunData], "Section | None"]

SECTIONS: list[SectionFn] = [
    S.samples,
    S.loss_curves,
    S.health,
    S.over_training,
    S.reconstructions,
    S.interpolation,
    L.blend_row,
    L.perturbation,
    L.latent_statistics,
    S.metrics,
    S.facts,
    S.config,
]
"""Page order: what the model makes first, then how training went, then the numbers."""

REPORT_FILE = "report.html"


def run_sections(run: RunData, section_fns: list[SectionFn] | None = None) -> list[Section]:
    """Call each section function (once per run: results are kept in ``run.sections`` and copied out); a failure
    becomes a short note in the page and a warning line."""
    out = []
    for fn in section_fns if section_fns is not None else SECTIONS:
        if fn in run.sections:
            sec = run.sections[fn]
        else:
            sec = _call(fn, run)
            run.sections[fn] = sec
        if sec is not None:
            out.append(Section(sec.title, sec.key, list(sec.parts)))
    return out


def _call(fn: SectionFn, run: RunData) -> Section | None:
    try:
        return fn(run)
    except Exception as exc:  # a report section must never cost the rest of the page
        info(f"warning: report section {fn.__name__} failed: {type(exc).__name__}: {exc}")
        sec = Section(fn.__name__.replace("_", " ").capitalize(), key=f"failed-{fn.__name__}")
        sec.text(f"this section could not be drawn: {type(exc).__name__}: {exc}", cls="warn")
        return sec


def build_report(run: RunData | str | Path, section_fns: list[SectionFn] | None = None) -> Page:
    run = run if isinstance(run, RunData) else RunData.load(run)
    page = Page(f"animegen run {run.name}", f"{run.family} · step {run.last_step} · {run.path}")
    for sec in run_sections(run, section_fns):
        page.add(sec)
    return page


def write_report(run_dir: str | Path, out: str | Path | None = None, section_fns: list[SectionFn] | None = None,
                 run: RunData | None = None) -> Path:
    """Write the report of ``run_dir`` to ``out`` (default ``RUN_DIR/report.html``); returns the path."""
    from animegen.fsutil import check_output

    run = run or RunData.load(run_dir)
    target = check_output(Path(out) if out else run.path / REPORT_FILE, [run.path], kind="file")
    return build_report(run, section_fns).write(target)
