"""The built-in procedural faces: determinism, labels that agree with the pixels, sizes, coverage of every
attribute value, --correlate, the synth: source with its cache, and the `animegen synth` command."""
from __future__ import annotations

import colorsys
import csv
import json

import numpy as np
import pytest

from animegen.data import synth_draw as D
from animegen.data import synthetic as S
from animegen.data.synth_folder import write_dataset
from animegen.errors import DataError

# one plain, well-lit face; tests change one factor at a time
BASE = {
    "hair_hue": 0.0, "hair_lightness": 0.5, "hair_saturation": 0.8, "hair_style": 0, "bangs": 1,
    "eye_hue": 0.6, "eye_size": 0.5, "eye_state": 0, "mouth": 0, "blush": 0.0, "skin_tone": 0.2,
    "accessory": 0, "accessory_hue": 0.3, "tilt": 0.0, "face_scale": 1.0, "face_x": 0.0, "face_y": 0.0,
    "bg_pattern": 0, "bg_hue": 0.3, "bg_lightness": 1.0, "clothes": 0, "clothes_hue": 0.3,
}


def face(size=64, **changes):
    a = dict(BASE)
    a.update({k: (S.ATTRIBUTE_BY_NAME[k].values.index(v) if isinstance(v, str) else v)
              for k, v in changes.items()})
    return S.render_face(a, size=size, seed=0, index=0, debug=True)


def hue_sat(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [K, 3] → (hue [K], saturation [K]) in HSV."""
    hs = np.array([colorsys.rgb_to_hsv(*(p / 255.0))[:2] for p in pixels.reshape(-1, 3)])
    return (hs[:, 0], hs[:, 1]) if len(hs) else (np.zeros(0), np.zeros(0))


def circ_dist(a, b):
    d = np.abs(np.asarray(a) - np.asarray(b)) % 1.0
    return np.minimum(d, 1.0 - d)


def eye_box(img, info, which):
    x, y = info["points"][which]
    r = info["eye_radius_px"]
    y0, y1, x0, x1 = int(y - r), int(np.ceil(y + r)), int(x - r), int(np.ceil(x + r))
    return img[y0:y1, x0:x1], {k: m[y0:y1, x0:x1] for k, m in info["masks"].items()}


def iris_coloured(pixels, eye_hue):
    h, s = hue_sat(pixels)
    return int(((circ_dist(h, eye_hue) < 0.06) & (s > 0.35)).sum())


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_images_and_index_independent_of_n():
    a, la = S.render_faces(12, size=32, seed=5, workers=1)
    b, lb = S.render_faces(12, size=32, seed=5, workers=1)
    assert np.array_equal(a, b)
    c, lc = S.render_faces(4, size=32, seed=5, start=8, workers=1)  # images 8..11 alone
    assert np.array_equal(a[8:], c)
    for k in S.ATTRIBUTE_NAMES:
        assert np.array_equal(la[k][8:], lc[k])
    d, _ = S.render_faces(12, size=32, seed=6, workers=1)
    assert all(not np.array_equal(a[i], d[i]) for i in range(12))


def test_labels_rerender_the_same_image():
    imgs, labels = S.render_faces(4, size=32, seed=9, workers=1)
    for i in range(4):
        assert np.array_equal(S.render_face(S.attribute_row(labels, i), size=32, seed=9, index=i), imgs[i])


def test_worker_count_does_not_change_images():
    a, _ = S.render_faces(70, size=32, seed=1, workers=1)
    b, _ = S.render_faces(70, size=32, seed=1, workers=2)
    assert np.array_equal(a, b)


def test_png_bytes_identical_whatever_n(tmp_path):
    write_dataset(tmp_path / "small", 5, size=32, seed=2, workers=1, progress=False)
    write_dataset(tmp_path / "big", 70, size=32, seed=2, workers=2, progress=False)
    for i in range(5):
        name = f"{i:06d}.png"
        assert (tmp_path / "small" / name).read_bytes() == (tmp_path / "big" / name).read_bytes()


# ----------------------------------------------------------------------------- labels agree with pixels


@pytest.mark.parametrize("hue", [0.0, 0.13, 0.33, 0.5, 0.62, 0.8])
def test_hair_pixels_have_the_labelled_hue(hue):
    img, info = face(hair_hue=hue, eye_hue=(hue + 0.5) % 1.0)
    hair = info["masks"]["hair"] > 0.99
    assert hair.sum() > 400  # hair is a big part of the picture
    h, s = hue_sat(img[hair])
    assert np.median(s) > 0.3
    # circular median-ish: mean direction of the hair pixels' hue
    ang = np.angle(np.exp(2j * np.pi * h).mean()) / (2 * np.pi) % 1.0
    assert circ_dist(ang, hue) < 0.03, (ang, hue)


def test_hair_hue_label_can_fail():
    """The check above is not vacuous: the same pixels do not match a different label."""
    img, info = face(hair_hue=0.33)
    h, _ = hue_sat(img[info["masks"]["hair"] > 0.99])
    ang = np.angle(np.exp(2j * np.pi * h).mean()) / (2 * np.pi) % 1.0
    assert circ_dist(ang, 0.6) > 0.1


def test_eye_state_controls_iris_pixels():
    img, info = face(eye_state="open")
    for side in ("eye_left", "eye_right"):
        pix, masks = eye_box(img, info, side)
        assert masks["iris"].sum() > 10
        assert iris_coloured(pix, 0.6) > 15
    img, info = face(eye_state="closed")
    assert "iris" not in info["masks"] or info["masks"]["iris"].sum() == 0
    for side in ("eye_left", "eye_right"):
        pix, _ = eye_box(img, info, side)
        assert iris_coloured(pix, 0.6) == 0
    img, info = face(eye_state="wink")  # the eye on the image's right closes
    assert iris_coloured(eye_box(img, info, "eye_left")[0], 0.6) > 15
    assert iris_coloured(eye_box(img, info, "eye_right")[0], 0.6) == 0


def test_eye_hue_shows_in_the_iris():
    for hue in (0.0, 0.3, 0.6):
        img, info = face(eye_hue=hue, hair_hue=(hue + 0.5) % 1.0)
        iris = info["masks"]["iris"] > 0.99
        h, _ = hue_sat(img[iris])
        assert np.mean(circ_dist(h, hue) < 0.03) > 0.9


def test_accessory_and_mouth_masks():
    _, none = face(accessory="none")
    assert "accessory" not in none["masks"] or none["masks"]["accessory"].sum() == 0
    for kind in ("glasses", "ribbon", "hairpin"):
        _, info = face(accessory=kind)
        assert info["masks"]["accessory"].sum() > 5, kind
    areas = {m: face(mouth=m)[1]["masks"]["mouth"].sum() for m in ("closed", "smile", "open")}
    assert areas["open"] > 2 * areas["closed"]


def test_hair_style_changes_the_visible_hair():
    labels = S.sample_attributes(10, seed=7)
    for i in range(10):
        a = dict(S.attribute_row(labels, i), accessory=0)
        area = {}
        for code, style in enumerate(D.HAIR_STYLES):
            _, info = S.render_face(dict(a, hair_style=code), size=64, seed=7, index=i, debug=True)
            area[style] = info["masks"]["hair"].sum()
        assert all(area[s] > 1.03 * area["short"] for s in D.HAIR_STYLES if s != "short"), (i, area)
        assert area["long"] > area["bob"], (i, area)


def test_geometry_attributes_move_the_face():
    def skin_centre(**kw):
        m = face(**kw)[1]["masks"]["skin"]
        ys, xs = np.nonzero(m > 0.5)
        return xs.mean(), ys.mean(), m.sum()

    x0, y0, a0 = skin_centre()
    x1, _, _ = skin_centre(face_x=0.05)
    _, y2, _ = skin_centre(face_y=0.05)
    _, _, a3 = skin_centre(face_scale=1.1)
    assert x1 - x0 > 2 and y2 - y0 > 2 and a3 > a0 * 1.1
    _, info = face(tilt=15.0)  # clockwise: the eye on the image's right moves down
    (lx, ly), (rx, ry) = info["points"]["eye_left"], info["points"]["eye_right"]
    assert np.degrees(np.arctan2(ry - ly, rx - lx)) == pytest.approx(15.0, abs=0.5)


# ----------------------------------------------------------------------------- sizes, coverage, correlate


@pytest.mark.parametrize("size", [32, 64, 128, 48])
def test_sizes(size):
    imgs, labels = S.render_faces(2, size=size, seed=0, workers=1)
    assert imgs.shape == (2, size, size, 3) and imgs.dtype == np.uint8
    assert len(labels) >= 12 and all(len(v) == 2 for v in labels.values())
    assert imgs.std() > 20  # not blank


def test_too_small_size_is_refused():
    with pytest.raises(DataError, match="size"):
        S.render_faces(1, size=8)


def test_every_attribute_value_occurs():
    labels = S.sample_attributes(600, seed=0)
    assert len(S.ATTRIBUTES) >= 12
    for at in S.ATTRIBUTES:
        v = labels[at.name]
        if at.kind == "categorical":
            counts = np.bincount(v, minlength=len(at.values))
            assert len(counts) == len(at.values) and counts.min() >= 20, (at.name, counts)
        else:
            span = at.high - at.low
            assert v.min() >= at.low and v.max() <= at.high
            assert v.min() < at.low + 0.05 * span and v.max() > at.high - 0.05 * span, at.name
    for name in ("hair_style", "bangs", "eye_state", "mouth", "accessory"):  # named in the issue
        assert name in labels
    assert set(S.ATTRIBUTE_BY_NAME["hair_style"].values) >= {"short", "long", "twintails", "ponytail"}


def test_correlate_couples_attributes_and_default_does_not():
    def stats(correlate):
        lab = S.sample_attributes(1500, seed=3, correlate=correlate)
        eye_near_hair = np.mean(circ_dist(lab["eye_hue"], lab["hair_hue"]) < 0.1)
        smiling = lab["mouth"] != D.MOUTHS.index("closed")
        blush_gap = lab["blush"][smiling].mean() - lab["blush"][~smiling].mean()
        skin_r = np.corrcoef(lab["skin_tone"], lab["hair_lightness"])[0, 1]
        return eye_near_hair, blush_gap, skin_r

    e, b, r = stats(False)
    assert e < 0.3 and abs(b) < 0.06 and abs(r) < 0.1
    e, b, r = stats(True)
    assert e > 0.7 and b > 0.4 and r < -0.7
    # only the coupled attributes change
    ind, cor = S.sample_attributes(50, seed=3), S.sample_attributes(50, seed=3, correlate=True)
    assert np.array_equal(ind["hair_hue"], cor["hair_hue"]) and np.array_equal(ind["tilt"], cor["tilt"])


# ----------------------------------------------------------------------------- synth: source and cache


def test_open_source_synth(monkeypatch, tmp_path):
    monkeypatch.setenv("ANIMEGEN_CACHE", str(tmp_path / "cache"))
    from animegen.data.sources import open_source

    ds = open_source("synth:20:3", size=32)
    assert ds.images.shape == (20, 32, 32, 3) and ds.labels is not None
    assert set(S.ATTRIBUTE_NAMES) <= set(ds.labels) and ds.meta["generator_version"] == S.GENERATOR_VERSION
    again = open_source("synth:20:3", size=32)
    assert again.fingerprint == ds.fingerprint and np.array_equal(again.images, ds.images)
    assert open_source("synth:20:4", size=32).fingerprint != ds.fingerprint
    assert open_source("synth:20:3:correlate", size=32).fingerprint != ds.fingerprint
    assert S.parse_spec("20") == (20, 0, False)
    for bad in ("", "abc", "0", "10:x", "10:1:banana", "1:2:3:4", "10:-1"):
        with pytest.raises(DataError):
            S.parse_spec(bad)


def test_cache_is_written_and_reused(monkeypatch, tmp_path):
    monkeypatch.setenv("ANIMEGEN_CACHE", str(tmp_path / "cache"))
    ds = S.open_synthetic("30:1", size=32, workers=1, use_cache=True)
    files = sorted(p.name for p in (tmp_path / "cache" / "synth").iterdir())
    assert len(files) == 2 and not any(f.endswith(".tmp") for f in files)

    def boom(*a, **k):
        raise AssertionError("rendered again instead of reading the cache")

    monkeypatch.setattr(S, "render_faces", boom)
    again = S.open_synthetic("30:1", size=32, use_cache=True)
    assert np.array_equal(again.images, ds.images)
    assert all(np.array_equal(again.labels[k], ds.labels[k]) for k in S.ATTRIBUTE_NAMES)


# ----------------------------------------------------------------------------- the command


def run_cli(*args):
    from animegen.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["--quiet", *args])
    return exc.value.code


def test_cli_writes_pngs_labels_manifest(tmp_path, capsys):
    out = tmp_path / "synth"
    assert run_cli("synth", "--n", "6", "--size", "32", "--seed", "4", "--workers", "1", "--out", str(out)) == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 6
    with open(out / "labels.csv") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert len(body) == 6 and len(set(header) & set(S.ATTRIBUTE_NAMES)) >= 12
    assert body[2][header.index("file")] == "000002.png"
    assert body[0][header.index("eye_state")] in D.EYE_STATES
    man = json.loads((out / "manifest.json").read_text())
    assert (man["seed"], man["size"], man["count"], man["generator_version"]) == (4, 32, 6, S.GENERATOR_VERSION)
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(pngs[3])), S.render_faces(1, 32, seed=4, start=3)[0][0])
    # an existing synth folder may be replaced; a foreign non-empty folder needs --force
    assert run_cli("synth", "--n", "3", "--size", "32", "--out", str(out)) == 0
    assert len(list(out.glob("*.png"))) == 3
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    capsys.readouterr()
    assert run_cli("synth", "--n", "3", "--size", "32", "--out", str(foreign)) == 1
    assert "--force" in capsys.readouterr().err and (foreign / "notes.txt").exists()
    assert run_cli("synth", "--n", "3", "--size", "32", "--out", str(foreign), "--force") == 0
    assert (foreign / "notes.txt").read_text() == "keep me"  # --force writes beside a user's files, never over them
    assert len(list(foreign.glob("*.png"))) == 3


@pytest.mark.parametrize("args, words", [
    (["--n", "0"], "--n"),
    (["--size", "8"], "--size"),
    (["--workers", "0"], "--workers"),
    ([], "--out"),
])
def test_cli_rejects_bad_arguments(tmp_path, capsys, args, words):
    extra = [] if not args else ["--out", str(tmp_path / "o")]
    assert run_cli("synth", *args, *extra) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and words in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_cli_grid(tmp_path):
    path = tmp_path / "grid.png"
    assert run_cli("synth", "--n", "4", "--size", "32", "--grid", str(path)) == 0
    from PIL import Image

    assert Image.open(path).size == (2 * 32 + 3 * 2, 2 * 32 + 3 * 2)


def test_a_synth_folder_is_a_data_source_with_its_labels(tmp_path):
    """`animegen synth --out DIR` then `--data DIR`: the same faces and labels as synth:N:SEED."""
    from animegen.data.sources import open_source
    from animegen.data.synth_folder import write_dataset

    write_dataset(tmp_path / "faces", n=6, size=32, seed=3)
    ds = open_source(str(tmp_path / "faces"))
    ref = open_source("synth:6:3", size=32)
    assert ds.images.shape == (6, 32, 32, 3) and np.array_equal(ds.images, ref.images)
    assert ds.labels is not None and np.array_equal(ds.labels["hair_hue"], ref.labels["hair_hue"])
    (tmp_path / "faces" / "000005.png").unlink()  # no longer what synth wrote: read as plain images
    plain = open_source(str(tmp_path / "faces"), quiet=True)
    assert len(plain) == 5 and plain.labels is None
