"""Launch the studio: offline Gradio settings, loopback by default, limited uploads.

Offline and safe by default: ``GRADIO_ANALYTICS_ENABLED=False`` (set before gradio is imported), no share
link, no server-side rendering process, no MCP server, system fonts instead of web fonts, uploads capped at
:data:`~animegen.studio.uploads.MAX_UPLOAD_BYTES` by the web server itself and read only from its upload folder.
"""
from __future__ import annotations

import ipaddress
import os
import threading
from dataclasses import dataclass

from animegen.errors import AnimegenError, require

INSTALL = "pip install 'animegen[studio]'"
LOOPBACK_NAMES = ("localhost",)


@dataclass
class Launched:
    """A studio started with ``block=False``: its address and the Gradio app (``demo.close()`` stops it)."""

    url: str
    demo: object
    studio: object


def offline_env() -> None:
    """Environment that keeps gradio from calling out; must run before ``import gradio``."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str) -> str | None:
    """Validate ``--host``; returns a warning line when it is reachable from other machines."""
    if not host or any(c.isspace() for c in host):
        raise AnimegenError(f"--host {host!r}: pass an address such as 127.0.0.1 or 0.0.0.0")
    if is_loopback(host):
        return None
    return (f"warning: --host {host} makes the studio reachable from other machines; it has no login and "
            "anyone who can reach this port can use it (the default 127.0.0.1 keeps it on this machine)")


def import_gradio():
    """gradio, imported offline, or a MissingDependencyError that names the install command."""
    offline_env()
    return require("gradio", INSTALL, "animegen studio")


def prepare(target: str | os.PathLike | None, reference_size: int | None = None):
    """The Studio object and its Gradio app for ``animegen studio [TARGET]``, the default model loaded."""
    gr = import_gradio()
    from animegen.studio.app import build
    from animegen.studio.catalog import scan
    from animegen.studio.handlers import Studio

    catalog = scan(target)
    from animegen.studio.reference import REFERENCE_SIZE

    studio = Studio(catalog, upload_roots=[gr.utils.get_upload_folder()],
                    reference_size=reference_size or REFERENCE_SIZE)
    studio.cache.get(catalog.default)  # a broken checkpoint fails here, before the server starts
    return studio, build(studio)


def launch(target: str | os.PathLike | None, host: str = "127.0.0.1", port: int = 7860, block: bool = True,
           quiet: bool = False, reference_size: int | None = None) -> Launched:
    """Start the studio on ``host:port``; ``block=False`` returns once it is serving (tests, benchmarks)."""
    studio, demo = prepare(target, reference_size)  # imports gradio, or says how to install it

    from animegen.studio.app import CSS, theme
    from animegen.studio.uploads import MAX_UPLOAD_BYTES

    demo.queue(default_concurrency_limit=2)
    try:
        _, url, _ = demo.launch(server_name=host, server_port=int(port), share=False, inbrowser=False,
                                show_error=True, quiet=quiet, prevent_thread_lock=True,
                                max_file_size=MAX_UPLOAD_BYTES, ssr_mode=False, mcp_server=False,
                                enable_monitoring=False, pwa=False, theme=theme(), css=CSS,
                                footer_links=["api"])
    except OSError as exc:
        raise AnimegenError(f"cannot serve on {host}:{port} ({exc}); pick another --port") from None
    # the default model's reference faces (Edit sliders, Inspect) are built once the page is already served
    engine = studio.cache.get(studio.catalog.default)
    threading.Thread(target=engine.reference, name="studio-reference", daemon=True).start()
    if block:
        demo.block_thread()
    return Launched(url=str(url), demo=demo, studio=studio)
