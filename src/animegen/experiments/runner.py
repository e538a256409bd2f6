"""Run one experiment or all of them into an output folder (the library behind ``animegen experiment``)."""
from __future__ import annotations

import math
import os
import platform
import shlex
import time
from pathlib import Path

from animegen.errors import AnimegenError
from animegen.experiments.core import REGISTRY, Experiment, ExperimentError, get
from animegen.experiments.writeout import REPORT, RESULT, write_index, write_section
from animegen.progress import info


def _machine() -> str:
    try:
        from animegen.train.device import cpu_name

        return f"{cpu_name()}, {os.cpu_count()} CPUs"
    except Exception:  # the machine line is a courtesy; never fail a finished experiment over it
        return platform.machine()


def run_experiments(names: list[str], out: str | Path, data: str | None = None, minutes: float | None = None,
                    threads: int = 1, seed: int = 0, reuse: dict[str, Path] | None = None,
                    max_steps: int | None = None, command: str | None = None,
                    inception: str | None = None) -> list[Path]:
    """Run ``names`` (registry names, or ``["all"]``) into ``out``; returns each section's ``report.md``.

    ``minutes``: the budget of one experiment, or with ``all`` the total, split in proportion to the
    experiments' default minutes (None: every default). Training runs are shared through ``out/runs``.
    """
    from animegen.fsutil import check_dir_output, check_output

    exps: list[Experiment] = list(REGISTRY.values()) if names == ["all"] else [get(n) for n in names]
    if names == ["all"]:
        exps = [e for e in exps if e.available()]
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise ExperimentError(f"--minutes must be positive (got {minutes})")
    if threads < 1:
        raise ExperimentError(f"--threads must be at least 1 (got {threads})")
    out = check_output(Path(out), [data] if data and not data.startswith(("synth:", "mnist:", "hf:")) else [],
                       kind="dir")
    for e in exps:  # before any work: never over a file we did not write
        check_output(out / e.name, kind="dir")
        check_dir_output(out / e.name, [REPORT, RESULT])
    total = sum(e.default_minutes for e in exps)
    shared: dict[str, Path] = {}
    entries = []
    failed: list[str] = []
    for i, e in enumerate(exps, 1):
        share = None if minutes is None else (minutes if len(exps) == 1 else minutes * e.default_minutes / total)
        ctx = e.context(out, share, data=data, threads=threads, seed=seed, reuse=dict(reuse or {}),
                        max_steps=max_steps, trained=shared, inception=inception)
        ctx.section = e.name
        info(f"[{i}/{len(exps)}] experiment {e.name} (seed {e.seed}), budget scale {ctx.scale:.3g}")
        fn = e.function()
        t0, c0 = time.time(), time.process_time()
        try:
            result = fn(ctx)
        except AnimegenError as exc:  # with several experiments, one that cannot run (e.g. no data) skips
            if len(exps) == 1:
                raise
            info(f"{e.name}: skipped: {exc}")
            failed.append(f"{e.name} ({exc})")
            continue
        wall, cpu = time.time() - t0, time.process_time() - c0
        facts = {"command": command or f"animegen experiment {e.name}", "budget scale": f"{ctx.scale:.3g}",
                 "wall s": f"{wall:.0f}", "process CPU s": f"{cpu:.0f}", "threads": threads,
                 "machine": _machine(),
                 "runs": ", ".join(f"{k}={Path(v).name}" for k, v in result.numbers.get("runs", {}).items()) or "-"}
        md = write_section(e, ctx, result, facts)
        info(f"{e.name}: {md}")
        entries.append((e, md, wall))
    if len(exps) > 1:
        write_index(out, entries)
    if failed:
        raise ExperimentError(f"{len(failed)} of {len(exps)} experiments could not run: {'; '.join(failed)}; "
                              f"the others' reports are in {out}")
    return [md for _, md, _ in entries]


def command_line(argv: list[str]) -> str:
    return "animegen experiment " + " ".join(shlex.quote(a) for a in argv)
