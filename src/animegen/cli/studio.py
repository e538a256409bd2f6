"""``animegen studio``: the local web app (Gradio) over a checkpoint, a run folder or a folder of runs."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen studio                                 [dim]# the bundled synthetic-faces VAE on http://127.0.0.1:7860[/dim]

  animegen studio runs/                           [dim]# every run under runs/ in the checkpoint list[/dim]

  animegen studio runs/vae-faces-1 --port 8080    [dim]# one run (its final, else best, else last checkpoint)[/dim]

Tabs: Generate (seed, count, truncation, prior; click a face, then "More like this"), Morph (two faces from
seeds, uploads or the pick; GIF/MP4 download), Blend (two to four faces with weights), Edit (attribute and PCA
sliders, live) and Inspect (an upload's reconstruction, code statistics and nearest reference faces).
It listens on 127.0.0.1 only unless --host says otherwise (--host 0.0.0.0 warns: there is no login). Nothing
is fetched from the internet. Needs the studio extra: pip install 'animegen[studio]'."""


@app.command("studio", epilog=EXAMPLES)
def studio_command(
    target: Annotated[Path | None, typer.Argument(help="A checkpoint, a run folder or a folder of runs "
                                                       "(default: the bundled model).")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 7860,
) -> None:
    """Open the studio web app (Generate, Morph, Blend, Edit, Inspect) in a local server."""
    from animegen.studio.server import check_host, launch

    warning = check_host(host)
    if warning:
        typer.echo(warning, err=True)
    launch(target, host=host, port=port, block=True)
