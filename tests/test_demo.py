"""`animegen demo` end to end on a tiny budget: every output, one self-contained page."""
from __future__ import annotations

import re

from animegen.checkpoint import load_model
from animegen.demo import run_demo


def test_demo_writes_a_self_contained_report(tmp_path):
    page = run_demo(tmp_path / "demo", minutes=0.03, n=96, size=32, seed=0)
    out = tmp_path / "demo"
    assert page == out / "index.html"
    for name in ("samples.png", "samples_fitted.png", "reconstructions.png", "interpolation.gif"):
        assert (out / name).stat().st_size > 0, name
    html = page.read_text()
    assert "Samples from the fitted prior" in html and "Reproduce" in html
    sources = re.findall(r"src=['\"]([^'\"]+)['\"]", html)
    assert len(sources) >= 4 and all(s.startswith("data:image/") for s in sources)  # nothing to fetch
    model = load_model(next((out / "runs").glob("vae-demo-*")) / "final.safetensors")
    assert model.fitted_prior() is not None and 85 <= model.fitted_prior().count < 96  # the training split
