"""The studio over HTTP: every endpoint through the Gradio API (gradio_client), hostile uploads answered with a
message while the server keeps serving, loopback-only listening, and the command line's one-line errors."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from studio_fixtures import REFERENCE, bad_files, make_run, png_bytes

from animegen.studio.server import check_host, is_loopback

gradio_client = pytest.importorskip("gradio_client", reason="gradio is not installed (pip install 'animegen[studio]')")
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except OSError:
        return 0


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:  # 0A = LISTEN
                found.add(addr)
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from animegen.studio.server import launch

    root = tmp_path_factory.mktemp("api-runs")
    make_run(root / "vae-1")
    port = free_port()
    app = launch(root, port=port, block=False, quiet=True, reference_size=REFERENCE)
    yield app, port
    app.demo.close()


@pytest.fixture(scope="module")
def client(server):
    app, _ = server
    return gradio_client.Client(app.url, verbose=False)


def test_server_listens_on_loopback_only(server):
    app, port = server
    assert http_status(app.url) == 200
    addrs = listening_addresses(port)
    if addrs:  # /proc is there: the only listener is 127.0.0.1 (0100007F)
        assert addrs == {"0100007F"}


def test_endpoints_answer(client, tmp_path):
    faces = client.predict(1, 4, 0.0, "best", api_name="/generate")
    assert len(faces) == 4 and Path(faces[0]["image"]).suffix == ".png"
    picked, text = client.predict(2, api_name="/pick")
    assert text == "picked: generated #2" and Path(picked).is_file()
    assert len(client.predict(0, api_name="/variations")) == 18
    strip, gif, mp4, numbers = client.predict("picked", 0, None, "seed", 5, None, 6, True, False, api_name="/morph")
    assert Path(gif).read_bytes()[:6] == b"GIF89a" and numbers["frames"] == 6
    good = tmp_path / "face.png"
    good.write_bytes(png_bytes(32, 32))
    blend = client.predict("seed", 1, None, "upload", 0, gradio_client.handle_file(str(good)), "none", 0, None,
                           "none", 0, None, 0.5, 0.5, 0.5, 0.5, api_name="/blend")
    assert blend[2]["inputs"] == ["seed:1", "upload"]
    base = client.predict("seed", 3, None, api_name="/edit_base")
    moved = client.predict(*([2.0] + [0.0] * 11), api_name="/edit")
    assert Path(base[0]).read_bytes() != Path(moved).read_bytes()
    insp = client.predict(gradio_client.handle_file(str(good)), api_name="/inspect")
    assert insp[3]["latent_dim"] == 8


@pytest.mark.parametrize("kind, message", [("not-an-image", "not an image"), ("huge", "too many pixels"),
                                           ("truncated", "truncated")])
def test_bad_uploads_get_a_message_and_the_server_keeps_serving(server, client, tmp_path, kind, message):
    app, _ = server
    f = gradio_client.handle_file(str(bad_files(tmp_path)[kind]))
    calls = {"/inspect": (f,), "/edit_base": ("upload", 0, f),
             "/morph": ("upload", 0, f, "seed", 1, None, 4, True, False),
             "/blend": ("upload", 0, f, "seed", 1, None, "none", 0, None, "none", 0, None, 0.5, 0.5, 0.5, 0.5)}
    for api, args in calls.items():
        with pytest.raises(gradio_client.exceptions.AppError, match=message):
            client.predict(*args, api_name=api)
    assert http_status(app.url) == 200
    assert len(client.predict(0, 2, 0.0, "best", api_name="/generate")) == 2


def test_requests_cannot_name_files(server, client):
    # gradio's dropdown refuses values it did not offer; the catalogue refuses them again (test_catalog.py)
    with pytest.raises(gradio_client.exceptions.AppError, match="not in the list of choices|unknown checkpoint"):
        client.predict("/etc/passwd", api_name="/switch")
    with pytest.raises(gradio_client.exceptions.AppError):
        client.predict({"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, api_name="/inspect")


def test_host_warning():
    assert check_host("127.0.0.1") is None and check_host("localhost") is None and check_host("::1") is None
    assert "reachable from other machines" in (check_host("0.0.0.0") or "")
    assert not is_loopback("0.0.0.0") and is_loopback("127.0.0.2")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}


def test_cli_with_no_checkpoint_serves_the_bundled_model_on_loopback():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "animegen", "studio", "--port", str(port)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and http_status(f"http://127.0.0.1:{port}/") != 200:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            time.sleep(0.5)
        assert http_status(f"http://127.0.0.1:{port}/") == 200
        addrs = listening_addresses(port)
        assert not addrs or addrs == {"0100007F"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_missing_gradio_is_one_line():
    code = "import sys; sys.modules['gradio'] = None; from animegen.cli.main import main; main(['studio'])"
    proc = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: animegen studio needs an optional dependency: pip install 'animegen[studio]'"]
