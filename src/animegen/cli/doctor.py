"""``animegen doctor``."""
from __future__ import annotations

import typer

from animegen.cli.app import app


@app.command(epilog="Example:  animegen doctor")
def doctor() -> None:
    """Check torch, threads, bf16, optional parts and FID weights; say what to install."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from animegen import __version__
    from animegen.doctor import checks

    table = Table(title=f"animegen {__version__}", show_lines=False)
    table.add_column("")
    table.add_column("part")
    table.add_column("status")
    table.add_column("to fix")
    results = checks()
    for c in results:
        table.add_row(
            "[green]✓[/green]" if c.ok else "[yellow]✗[/yellow]", escape(c.name), escape(c.detail), escape(c.fix)
        )
    Console(width=160).print(table)
    missing = [c for c in results if not c.ok]
    typer.echo(
        f"{len(results) - len(missing)} of {len(results)} checks ok"
        + ("; see 'to fix' for the rest" if missing else "")
    )
