"""The report in a real browser (Debian chromium, headless): every image loads, no section is empty, and the
page screenshots to something that is not blank. Installs chromium with apt-get when it is missing; skips
with the reason when that is impossible."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegen.demo import run_demo

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--hide-scrollbars", "--mute-audio", "--no-first-run"]
# appended to a copy of the page under test (never to the product): what the browser saw, as JSON in the DOM
PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.from(document.images).map(function (i) {
    return {ok: i.complete && i.naturalWidth > 0 && i.naturalHeight > 0, w: i.naturalWidth, alt: i.alt.slice(0, 40)};
  });
  var secs = Array.from(document.querySelectorAll('section')).map(function (s) {
    var body = Array.from(s.children).filter(function (c) { return c.tagName !== 'H2'; });
    var h = body.reduce(function (a, c) { return a + c.getBoundingClientRect().height; }, 0);
    return {id: s.id, height: Math.round(h)};
  });
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify({images: imgs, sections: secs});
  document.body.appendChild(pre);
});
</script>"""



def _run(chromium: str, *args: str) -> str:
    proc = subprocess.run([chromium, *FLAGS, *args], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def probe(chromium: str, page: Path, tmp: Path) -> dict:
    copy = tmp / f"probe-{page.parent.name}-{page.name}"
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _run(chromium, "--virtual-time-budget=20000", "--dump-dom", copy.as_uri())
    m = re.search(r"<pre id=\"probe\">(.*?)</pre>", dom, re.S)
    assert m, "the page never finished loading in chromium"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&amp;", "&"))


def screenshot(chromium: str, page: Path, out: Path, height: int = 5000) -> np.ndarray:
    _run(chromium, f"--window-size=1200,{height}", f"--screenshot={out}", page.as_uri())
    with Image.open(out) as im:
        return np.asarray(im.convert("RGB"))


def _assert_renders(chromium: str, page: Path, tmp: Path, min_images: int) -> dict:
    seen = probe(chromium, page, tmp)
    broken = [i for i in seen["images"] if not i["ok"]]
    assert not broken, f"broken images in {page}: {broken}"
    assert len(seen["images"]) >= min_images
    empty = [s["id"] for s in seen["sections"] if s["height"] < 10]
    assert not empty, f"empty sections in {page}: {empty}"
    shot = screenshot(chromium, page, tmp / f"shot-{page.parent.name}.png")
    assert shot.shape[1] == 1200 and shot.std() > 20  # pictures and charts, not a blank page
    return seen


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory) -> Path:
    return run_demo(tmp_path_factory.mktemp("browser") / "demo", minutes=30.0, n=64, size=32, seed=1, steps=4)


def test_demo_page_renders_in_chromium(chromium, demo_page, tmp_path):
    seen = _assert_renders(chromium, demo_page, tmp_path, min_images=5)
    assert seen["sections"][0]["id"] == "best-samples"


def test_run_report_renders_in_chromium(chromium, demo_page, tmp_path):
    report = next((demo_page.parent / "runs").glob("vae-demo-*")) / "report.html"
    seen = _assert_renders(chromium, report, tmp_path, min_images=3)
    assert [s["id"] for s in seen["sections"]][:2] == ["samples", "loss-curves"]


def test_probe_catches_a_broken_image(chromium, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<!doctype html><html><body><section id='x'><h2>x</h2></section>"
                   "<img src='data:image/png;base64,iVBORw0KGgo='></body></html>", encoding="utf-8")
    seen = probe(chromium, bad, tmp_path)
    assert [i["ok"] for i in seen["images"]] == [False]
    assert seen["sections"] == [{"id": "x", "height": 0}]


def test_screenshot_of_a_blank_page_is_flat(chromium, tmp_path):
    blank = tmp_path / "blank.html"
    blank.write_text("<!doctype html><html><body></body></html>", encoding="utf-8")
    assert screenshot(chromium, blank, tmp_path / "blank.png", height=400).std() < 1
