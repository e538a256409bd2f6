"""Face detection backends, crop geometry and ``prepare --crop detect`` on illustrations with known faces."""
from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from animegen.data import detect as detect_mod
from animegen.data.crop import center_square, crop_square, face_square
from animegen.data.detect import Face, make_detector, nms
from animegen.data.detect_eval import make_scenes, matches
from animegen.data.pipeline import PrepareOptions
from animegen.data.prepare import prepare
from animegen.errors import AnimegenError, MissingDependencyError


@pytest.fixture(scope="module")
def faces(anime_faces_tar) -> np.ndarray:
    """300 real 64 px face crops, read straight from the shared tar."""
    out = []
    with tarfile.open(anime_faces_tar) as tf:
        for m in tf:
            if m.isfile() and m.name.endswith(".jpg"):
                out.append(np.asarray(Image.open(io.BytesIO(tf.extractfile(m).read())).convert("RGB")))
                if len(out) == 300:
                    break
    return np.stack(out)


def detector(backend: str, cascade_xml=None, **kw):
    if backend == "animeface":
        try:
            return make_detector("animeface", **kw)
        except MissingDependencyError as exc:
            pytest.skip(str(exc))
    return make_detector("cascade", cascade=cascade_xml, **kw)


@pytest.fixture(params=["animeface", "cascade"])
def backend(request):
    return request.param


# ----------------------------------------------------------------------------- pure geometry


def test_face_iou_and_nms():
    a = Face(0, 0, 10, 10, 0.9)
    assert a.iou(a) == 1.0 and a.iou((20, 20, 5, 5)) == 0.0
    assert a.iou(Face(5, 0, 10, 10, 0.5)) == pytest.approx(50 / 150)
    kept = nms([Face(1, 1, 10, 10, 0.5), a, Face(30, 30, 10, 10, 0.7)])
    assert kept == [a, Face(30, 30, 10, 10, 0.7)]
    assert a.box == (0, 0, 10, 10) and a.center == (5.0, 5.0)


def test_face_square_clamps_inside_or_pads():
    assert center_square(100, 60) == (20, 0, 80, 60)
    # face in the middle: a centred square 1.5× the box
    assert face_square(40, 40, 20, 20, 0.25, 100, 100) == (35, 35, 65, 65)
    # near the left/top edge but the square fits: shifted inside
    assert face_square(0, 2, 20, 20, 0.25, 100, 100) == (0, 0, 30, 30)
    # square bigger than the image: stays centred, the outside is padded by crop_square
    box = face_square(10, 10, 30, 30, 0.5, 50, 40)
    assert box == (-5, -5, 55, 55)
    a = np.zeros((40, 50, 3), np.uint8)
    a[:, 0] = 200  # left column
    a[0, :] = 100  # top row
    out = np.asarray(crop_square(Image.fromarray(a), box))
    assert out.shape == (60, 60, 3)
    assert (out[10:20, :5] == 200).all()  # edge repeated to the left
    assert (out[:5, 10:20] == 100).all()  # and upwards
    with pytest.raises(ValueError):
        crop_square(Image.fromarray(a), (100, 100, 120, 120))


# ----------------------------------------------------------------------------- factory and errors


def test_make_detector_choices_and_errors(tmp_path, monkeypatch, cascade_xml):
    with pytest.raises(AnimegenError, match="unknown detector backend"):
        make_detector("yolo")
    with pytest.raises(AnimegenError, match="needs a cascade XML"):
        make_detector("cascade")
    with pytest.raises(AnimegenError, match="cascade file not found"):
        make_detector("cascade", cascade=tmp_path / "missing.xml")
    (tmp_path / "bad.xml").write_text("<opencv_storage></opencv_storage>")
    with pytest.raises(AnimegenError, match="not an OpenCV cascade"):
        make_detector("cascade", cascade=tmp_path / "bad.xml")

    def unavailable():
        raise MissingDependencyError("the animeface detector", "pip install animeface")

    monkeypatch.setattr(detect_mod, "_import_animeface", unavailable)
    assert make_detector("auto", cascade=cascade_xml).name == "cascade"
    with pytest.raises(MissingDependencyError, match="animegen\\[detect\\]"):
        make_detector("auto")


def test_auto_prefers_animeface_when_usable(cascade_xml):
    try:
        detect_mod._import_animeface()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    assert make_detector("auto", cascade=cascade_xml).name == "animeface"


# ----------------------------------------------------------------------------- real detection


def test_backend_finds_placed_faces(backend, faces, cascade_xml):
    det = detector(backend, cascade_xml, min_size=40)
    scenes = make_scenes(faces, 8, seed=5, scale=(2.0, 4.0))
    placed = found = 0
    for s in scenes:
        dets = det.detect(s.image)
        for d in dets:  # every detection is one of the placed faces (clean backgrounds, no false alarms)
            assert any(matches(b, d) for b in s.boxes), (d, s.boxes)
            assert 0 <= d.x and d.x + d.w <= s.image.width and 0 < d.score <= 1
        placed += len(s.boxes)
        found += sum(any(matches(b, d) for d in dets) for b in s.boxes)
    assert found / placed >= 0.75, f"{backend} recall {found}/{placed}"


def test_small_generated_size_faces_with_context_pad(backend, faces, cascade_xml):
    """The metrics use case: is there a face in a 64 px image? (pad=0.25 gives the detector context)."""
    det = detector(backend, cascade_xml, pad=0.25, min_size=16)
    real = faces[:40]
    hit = sum(bool(det.detect(Image.fromarray(f))) for f in real)
    assert hit >= 34, f"{backend}: {hit}/40 real faces found"
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (15, 64, 64, 3), dtype=np.uint8)
    flat = np.full((5, 64, 64, 3), 200, np.uint8)
    assert sum(bool(det.detect(Image.fromarray(a))) for a in np.concatenate([noise, flat])) == 0


def test_face_pass_rate_default_detector(faces):
    try:
        rate = detect_mod.face_pass_rate(faces[:20])
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    assert rate >= 0.8


# ----------------------------------------------------------------------------- prepare --crop detect


def test_prepare_crop_detect_end_to_end(backend, faces, cascade_xml, tmp_path):
    detector(backend, cascade_xml)  # skips when the backend is unavailable
    src = tmp_path / "illustrations"
    src.mkdir()
    scenes = make_scenes(faces, 6, seed=11, scale=(2.0, 3.5))
    for i, s in enumerate(scenes):
        s.image.save(src / f"scene_{i}.png")
    Image.new("RGB", (300, 200), (90, 140, 200)).save(src / "sky.jpg")
    opts = PrepareOptions(size=64, crop="detect", detector=backend, cascade=str(cascade_xml), margin=0.25)
    out = tmp_path / "ds"
    rep = prepare(str(src), out, opts, workers=2, quiet=True, preview=tmp_path / "p.png")
    n_placed = sum(len(s.boxes) for s in scenes)
    assert rep.count >= 0.75 * n_placed
    assert set(rep.dropped) == {"no-face"}
    assert "sky.jpg,no-face," in (out / "rejects.csv").read_text()
    assert rep.summary().startswith(f"kept {rep.count} faces from ")
    m = json.loads((out / "manifest.json").read_text())
    for f in m["files"]:
        name, _, k = f["source"].partition("#face")
        s = scenes[int(name.split("_")[1].split(".")[0])]
        x0, y0, x1, y1 = f["box"]
        assert x1 - x0 == y1 - y0  # square
        assert any(matches(b, Face(*f["face"], f["score"])) for b in s.boxes)
    assert Image.open(tmp_path / "p.png").width > 0
    # at most one face per image
    one_face = PrepareOptions(**{**opts.to_dict(), "max_faces": 1})
    rep1 = prepare(str(src), tmp_path / "ds1", one_face, workers=1, quiet=True)
    assert rep1.count <= 6 and rep1.count == rep1.kept_inputs
