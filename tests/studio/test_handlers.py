"""The studio's controls without a browser: each Studio method on a tiny VAE."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from studio_fixtures import REFERENCE, bad_files, make_run, png_bytes

from animegen.errors import AnimegenError
from animegen.studio.catalog import UnknownCheckpoint, scan
from animegen.studio.engine import StudioInputError
from animegen.studio.handlers import Studio, show
from animegen.studio.session import Session
from animegen.studio.uploads import UploadError


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    root = tmp_path_factory.mktemp("studio-runs")
    make_run(root / "vae-1", seed=0)
    make_run(root / "vae-2", seed=1)
    uploads = tmp_path_factory.mktemp("uploads")
    return Studio(scan(root), upload_roots=[uploads], media_dir=tmp_path_factory.mktemp("media"),
                  reference_size=REFERENCE)


@pytest.fixture
def upload(studio):
    path = studio.upload_roots[0] / "face.png"
    path.write_bytes(png_bytes(48, 48))
    return str(path)


def test_generate_is_seeded_and_pick_needs_a_grid(studio):
    s, faces = studio.generate(None, 3, 4)
    assert len(faces) == 4 and faces[0].shape == (64, 64, 3)  # 16 px enlarged ×4
    _, again = studio.generate(None, 3, 4)
    _, other = studio.generate(None, 4, 4)
    assert np.array_equal(faces[1], again[1]) and not np.array_equal(faces[1], other[1])
    with pytest.raises(StudioInputError, match="generate faces first"):
        studio.pick(Session(s.label), 0)
    with pytest.raises(StudioInputError, match="no face number"):
        studio.pick(s, 4)
    s, im, text = studio.pick(s, 2)
    assert text == "picked: generated #2" and np.array_equal(im, faces[2])


def test_variations_run_coarse_to_fine(studio):
    s, _ = studio.generate(None, 0, 4)
    with pytest.raises(StudioInputError, match="pick a face"):
        studio.variations(s)
    s, _, _ = studio.pick(s, 1)
    s, grid = studio.variations(s, seed=5, per_level=3)
    assert [c for _, c in grid][::3] == ["coarse (1 sd)", "medium (0.5 sd)", "fine (0.25 sd)"]
    dist = (s.variations - s.picked[None]).norm(dim=1)  # [9]
    assert dist[:3].mean() > dist[3:6].mean() > dist[6:].mean() > 0
    s, im, text = studio.pick(s, 4, "variations")
    assert torch.equal(s.picked, s.variations[4]) and "variation #4" in text


def test_morph_writes_a_gif_from_picked_and_seed(studio, tmp_path):
    s, _ = studio.generate(None, 0, 2)
    s, _, _ = studio.pick(s, 0)
    s, strip, gif, mp4, numbers = studio.morph(s, ("picked", 0, None), ("seed", 7, None), frames=6)
    assert mp4 is None and numbers["frames"] == 6 and numbers["from"] == "generated #0"
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 10  # boomerang: 6 forward, 4 back
    assert strip.shape[1] > strip.shape[0]
    with pytest.raises(StudioInputError, match="frames"):
        studio.morph(s, ("seed", 1, None), ("seed", 2, None), frames=1000)


def test_blend_weights_and_none_slots(studio, upload):
    s = studio.session(None)
    s, out, inputs, numbers = studio.blend(s, [("seed", 1, None), ("upload", 0, upload), ("none", 0, None),
                                               ("none", 0, None)], [1.0, 0.0, 0.5, 0.5])
    s, only_a, _, _ = studio.blend(s, [("seed", 1, None), ("seed", 1, None), ("none", 0, None),
                                       ("none", 0, None)], [0.5, 0.5, 0.5, 0.5])
    assert numbers["inputs"] == ["seed:1", "upload"] and numbers["weights"] == [1.0, 0.0]
    assert np.array_equal(out, only_a)  # all weight on face 1 = face 1 itself
    with pytest.raises(StudioInputError, match="two to four"):
        studio.blend(s, [("seed", 1, None), ("none", 0, None)], [1, 1])
    with pytest.raises(AnimegenError, match="weight"):
        studio.blend(s, [("seed", 1, None), ("seed", 2, None)], [-1, 1])


def test_edit_sliders_change_the_face(studio):
    s, names = studio.slider_names(None)
    assert names and all(n.startswith("pc") or "=" in n or n.isidentifier() for n in names)
    s, base = studio.edit_base(s, "seed", 3)
    s, same = studio.edit(s, [0.0] * len(names))
    s, moved = studio.edit(s, [2.0] + [0.0] * (len(names) - 1))
    assert np.array_equal(base, same) and not np.array_equal(base, moved)
    with pytest.raises(StudioInputError, match="between"):
        studio.edit(s, [99.0])


def test_inspect_reports_reconstruction_stats_and_neighbours(studio, upload):
    s, inp, rec, near, stats = studio.inspect(None, upload)
    assert inp.shape == rec.shape == (64, 64, 3) and len(near) == 6
    assert stats["latent_dim"] == 8 and 0 <= stats["norm_percentile"] <= 100 and stats["nearest_space"] == "code"
    assert s.picked_label == "inspected upload"


@pytest.mark.parametrize("kind", ["not-an-image", "huge", "truncated"])
def test_every_upload_endpoint_refuses_bad_files(studio, kind):
    path = str(bad_files(studio.upload_roots[0] / kind)[kind])
    calls = [lambda: studio.inspect(None, path),
             lambda: studio.morph(None, ("upload", 0, path), ("seed", 1, None)),
             lambda: studio.blend(None, [("upload", 0, path), ("seed", 1, None)], [1, 1]),
             lambda: studio.edit_base(None, "upload", 0, path)]
    for call in calls:
        with pytest.raises(UploadError, match="upload refused"):
            call()
    s, faces = studio.generate(None, 0, 1)  # still works afterwards
    assert len(faces) == 1


def test_switching_checkpoints_accepts_only_listed_labels(studio, tmp_path):
    s, _ = studio.generate(None, 0, 2)
    s, _, _ = studio.pick(s, 0)
    s, text = studio.switch(s, "vae-2")
    assert text.startswith("vae-2: vae") and s.picked is None and s.shown is None
    for bad in ["../vae-1/final.safetensors", str(tmp_path), "/etc/passwd"]:
        with pytest.raises(UnknownCheckpoint):
            studio.switch(s, bad)
    with pytest.raises(StudioInputError, match="source"):
        studio.face(s, "file:/etc/passwd")


def test_codes_of_another_model_are_refused(studio):
    s = studio.session(None)
    s.pick(torch.zeros(3), "wrong")
    with pytest.raises(StudioInputError, match="another model"):
        studio.variations(s)


def test_show_enlarges_by_whole_factors():
    a = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(1, 16, 16, 3)
    big = show(a, 64)
    assert big.shape == (64, 64, 3) and np.array_equal(big[::4, ::4], a[0])


def test_a_gan_inverts_uploads_and_gets_ganspace_sliders(tmp_path, monkeypatch):
    from animegen.checkpoint import save_model
    from animegen.models import MODELS, DataSpec

    monkeypatch.setattr("animegen.studio.engine.INVERT_STEPS", 5)  # the path, not the quality

    torch.manual_seed(0)
    cls = MODELS["dcgan"]
    gan = cls(cls.config_cls(latent_dim=8, g_width=8, d_width=8), DataSpec(3, 16)).eval()
    (tmp_path / "gan-1").mkdir()
    save_model(tmp_path / "gan-1" / "final.safetensors", gan)
    face = tmp_path / "up" / "face.png"
    face.parent.mkdir()
    face.write_bytes(png_bytes(20, 20))
    st = Studio(scan(tmp_path / "gan-1"), upload_roots=[face.parent], media_dir=tmp_path / "media",
                reference_size=REFERENCE)
    s, names = st.slider_names(None)
    assert names and all(n.startswith("pc") for n in names)
    s, inp, rec, near, stats = st.inspect(s, str(face))
    assert stats["nearest_space"] == "pixel" and any("inverted" in n for n in stats["notes"]) and len(near) == 6
