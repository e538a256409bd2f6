"""Entry point of the ``animegen`` command.

Each command lives in its own module (one function per command); this file only wires them up and
turns errors into one clear line: user errors print ``error: ...`` and exit 1, Ctrl-C exits 130.
Set ``ANIMEGEN_DEBUG=1`` to see full tracebacks.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import cast

import click
import typer

from animegen import __version__
from animegen.cli.app import app
from animegen.errors import AnimegenError

# command modules, in the order `animegen --help` lists them
COMMAND_MODULES = ["synth", "prepare", "train", "sample", "evaluate", "report", "interpolate", "blend", "perturb",
                   "directions", "latent_stats", "invert", "outliers", "neighbors", "demo", "experiment", "studio",
                   "doctor"]

for _name in COMMAND_MODULES:
    importlib.import_module(f"animegen.cli.{_name}")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"animegen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or status lines."),
    offline: bool = typer.Option(False, "--offline", help="Never reach the network: hf:NAME reads only the "
                                 "local Hugging Face cache and fails with one line otherwise (also on with "
                                 "ANIMEGEN_OFFLINE=1, HF_HUB_OFFLINE=1 or HF_DATASETS_OFFLINE=1)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Train generative models of anime faces (AE, VAE, DCGAN, WGAN, WGAN-GP) and look inside them.

    Start with [bold]animegen doctor[/bold], then e.g.
    [bold]animegen train --model vae --data synth:20000 --set train.max_minutes=5[/bold].
    """
    from animegen.offline import set_offline, sync_offline
    from animegen.progress import set_quiet

    if offline:
        set_offline()
    else:
        sync_offline()
    # every invocation sets it: in-process callers (tests, notebooks) must not inherit an earlier -q
    set_quiet(quiet or os.environ.get("ANIMEGEN_QUIET", "") not in ("", "0"))


def _fail(msg: str, code: int = 1) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def _with_notes(text: str, exc: BaseException) -> str:
    """The message plus any notes added on the way up (e.g. the trainer's "continue with: ...")."""
    notes = [str(n) for n in getattr(exc, "__notes__", ()) if str(n).strip()]
    return "; ".join([text, *notes]) if notes else text


def _usage_line(exc) -> str:
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "animegen"
    text = " ".join(str(exc.format_message()).split())
    return f"{text} (see '{where} --help')"


def _is_click_error(exc: BaseException) -> bool:
    """click's (or typer's vendored click's) usage errors: they know how to show themselves."""
    return hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int)


def main(argv: list[str] | None = None) -> None:
    debug = os.environ.get("ANIMEGEN_DEBUG", "") not in ("", "0")
    try:
        rv = app(args=argv, prog_name="animegen", standalone_mode=False)
    except (click.exceptions.Exit, typer.Exit) as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except (click.exceptions.Abort, typer.Abort, KeyboardInterrupt):
        _fail("interrupted", 130)
    except AnimegenError as exc:
        if debug:
            raise
        _fail(_with_notes(str(exc), exc))
    except Exception as exc:  # usage errors, or an unexpected bug: still one line unless debugging
        if _is_click_error(exc):  # a usage mistake: one line too, with where to look
            usage = cast(click.ClickException, exc)
            _fail(_usage_line(usage), usage.exit_code)
        if debug:
            raise
        _fail(_with_notes(f"unexpected {type(exc).__name__}: {exc} (set ANIMEGEN_DEBUG=1 for the traceback)", exc))
    if rv == 130:  # typer turned Ctrl-C into a return code
        _fail("interrupted", 130)
    sys.exit(rv if isinstance(rv, int) else 0)
