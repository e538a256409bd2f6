"""``animegen report``: one run folder → a self-contained HTML page; several → a comparison page."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen report runs/vae-1                        [dim]# writes runs/vae-1/report.html[/dim]

  animegen report runs/vae-1 --out vae-1.html

  animegen report runs/vae-1 runs/gan-recommended-2 --out compare.html

One run: samples, loss curves per term, health signals (diversity, rollbacks, collapse warnings),
sample grids over training, reconstructions, an interpolation GIF, metrics (after animegen evaluate),
run facts and the resolved config. Several runs: curves overlaid and a metrics table (default
file: compare.html beside the first run folder). Every image is embedded: the page works offline.
`animegen train` writes RUN/report.html at the end unless --no-report."""


@app.command("report", epilog=EXAMPLES)
def report_command(
    runs: Annotated[list[Path], typer.Argument(help="Run folder(s) written by animegen train.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="HTML file (default: RUN/report.html; several "
                                                                 "runs: compare.html beside the first).")] = None,
) -> None:
    """Write an HTML report of a training run, or compare several runs; prints the page's path."""
    from animegen.progress import info
    from animegen.report import write_comparison, write_report
    from animegen.report.rundata import RunData

    if out is not None and out.suffix.lower() not in (".html", ".htm"):
        from animegen.errors import AnimegenError

        raise AnimegenError(f"--out {out}: the report is an HTML file; pass a name ending in .html")
    for r in runs:
        RunData.load(r)  # one clear line for a path that is not a run folder, before any slow work
    if len(runs) == 1:
        page = write_report(runs[0], out)
    else:
        if len({p.resolve() for p in runs}) != len(runs):
            from animegen.errors import AnimegenError

            raise AnimegenError("the same run folder is given twice")
        page = write_comparison(list(runs), out)
    info(f"open {page} in a browser")
    typer.echo(str(page))
