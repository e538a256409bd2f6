"""The studio in a real browser (Debian chromium, headless, driven by Playwright): the page loads faces, a slider
move changes the edited face, a picked face gets variations, a morph's GIF downloads, and the page requests
nothing but the local server. With ANIMEGEN_STUDIO_SCREENSHOTS=DIR it also writes a screenshot of each tab
(docs/images/studio_*.png come from this test). Installs chromium with apt-get when it is missing; skips with the
reason when that is impossible or when playwright is not importable."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_studio_server import free_port

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright; "
                               "never `playwright install`: the test uses Debian's chromium)")
pytest.importorskip("gradio", reason="gradio is not installed (pip install 'animegen[studio]')")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update"]
WAIT_MS = 90_000
SHOTS = os.environ.get("ANIMEGEN_STUDIO_SCREENSHOTS")



@pytest.fixture(scope="module")
def studio_url():
    from animegen.studio.server import launch

    app = launch(None, port=free_port(), block=False, quiet=True, reference_size=200)  # the bundled model
    yield app.url
    app.demo.close()


@pytest.fixture(scope="module")
def page(chromium, studio_url):
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        pg = ctx.new_page()
        pg.set_default_timeout(WAIT_MS)
        pg.requested = []  # type: ignore[attr-defined]
        pg.on("request", lambda r: pg.requested.append(r.url))  # type: ignore[attr-defined]
        pg.goto(studio_url)
        pg.wait_for_function("document.querySelectorAll('#gen-gallery img').length >= 8")
        yield pg
        browser.close()


def _shot(page, name: str) -> None:
    if SHOTS:
        for gallery in page.locator(".gallery-container").all():  # thumbnails load lazily: bring each into view
            if gallery.is_visible():
                gallery.scroll_into_view_if_needed()
        page.wait_for_function("Array.from(document.images).every(i => i.complete)")
        page.evaluate("window.scrollTo(0, 0)")
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"studio_{name}.png"), full_page=True)


def _src(page, selector: str) -> str:
    return page.locator(f"{selector} img").first.get_attribute("src") or ""


def test_pick_a_face_and_get_variations(page):
    page.get_by_role("tab", name="Generate").click()
    page.locator("#gen-gallery img").nth(2).click()
    page.wait_for_function("document.querySelector('#picked img') !== null")
    assert "generated #2" in page.locator("#pick-info textarea").input_value()
    page.locator("#more-button").click()
    page.wait_for_function("document.querySelectorAll('#var-gallery img').length >= 18")
    _shot(page, "generate")


def test_slider_move_changes_the_face(page):
    page.get_by_role("tab", name="Edit").click()
    page.wait_for_function("document.querySelector('#edit-out img') !== null")
    slider = page.locator("#edit-slider-0 input[type=range]")
    slider.wait_for(state="visible")
    before = _src(page, "#edit-out")
    slider.focus()
    for _ in range(15):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("(b) => { const i = document.querySelector('#edit-out img'); return i && i.src !== b; }",
                           arg=before)
    assert _src(page, "#edit-out") != before
    _shot(page, "edit")


def test_morph_and_download_the_gif(page, tmp_path):
    page.get_by_role("tab", name="Morph").click()
    page.locator("#morph-button").click()
    link = page.locator("#morph-gif a").first
    link.wait_for(state="attached")
    page.wait_for_function("document.querySelector('#morph-strip img') !== null")
    with page.expect_download() as dl:
        link.click()
    saved = tmp_path / "morph.gif"
    dl.value.save_as(saved)
    assert saved.read_bytes()[:6] == b"GIF89a"
    _shot(page, "morph")


def test_blend_and_inspect_render(page, tmp_path):
    page.get_by_role("tab", name="Blend").click()
    page.locator("#blend-button").click()
    page.wait_for_function("document.querySelector('#blend-out img') !== null")
    _shot(page, "blend")
    page.get_by_role("tab", name="Inspect").click()
    from PIL import Image

    from animegen.data.sources import open_source

    face = tmp_path / "upload.png"  # a synthetic face (a training face of the bundled model: its neighbours show it)
    Image.fromarray(open_source("synth:6", size=64, quiet=True).images[5]).save(face)
    page.locator("#inspect-upload input[type=file]").set_input_files(str(face))
    page.locator("#inspect-button").click()
    page.wait_for_function("document.querySelector('#inspect-recon img') !== null")
    _shot(page, "inspect")


def test_nothing_is_fetched_from_elsewhere(page, studio_url):
    hosts = {u.split("/")[2] for u in page.requested if u.startswith(("http://", "https://"))}
    assert hosts == {studio_url.split("/")[2]}
