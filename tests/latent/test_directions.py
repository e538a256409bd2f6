"""Attribute directions: planted structure is recovered, effects are measured, tag CSVs are matched."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from animegen.data.sources import ImageSet, open_source
from animegen.errors import AnimegenError
from animegen.latent.codes import load_codes
from animegen.latent.directions import Directions, direction_effects, find_directions, save_directions, splits_of
from animegen.latent.labels import labels_from_csv
from animegen.latent.probe import LabelColumn, ProbeTarget


def _planted(n=800, dim=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(dim, generator=g)
    v = v / v.norm()
    u = torch.randn(dim, generator=g)
    u = u - (u @ v) * v
    u = u / u.norm()
    cls = torch.randint(0, 3, (n,), generator=g)
    val = torch.rand(n, generator=g)
    # blush: signal var 9/12 = 0.75 against noise var 0.25 along u, so the best linear R² is about 0.75
    z = torch.randn(n, dim, generator=g) * 0.5 + 2.0 * (cls == 2).float()[:, None] * v + 3.0 * val[:, None] * u
    cols = [LabelColumn("mouth", cls.numpy(), ("closed", "smile", "open")),
            LabelColumn("blush", val.numpy().astype(np.float32), None, 0.0, 1.0)]
    return z, cols, v, u


def test_planted_directions_are_recovered_with_probe_accuracy():
    z, cols, v, u = _planted()
    d = find_directions(z, cols)
    assert d.names == ["mouth=closed", "mouth=smile", "mouth=open", "blush"]
    open_ = d.vectors[d.names.index("mouth=open")]
    assert float(open_ @ v) > 0.95 and torch.allclose(d.vectors.norm(dim=1), torch.ones(4))
    assert float(d.vectors[d.names.index("blush")] @ u) > 0.95
    info = {r["name"]: r for r in d.info}
    assert info["mouth=open"]["probe_balanced_accuracy"] > 0.95
    assert info["mouth=smile"]["probe_balanced_accuracy"] < 0.75  # smile vs closed is not in the codes
    assert 0.6 < info["blush"]["probe_r2"] < 0.85 and info["blush"]["n_pos"] == info["blush"]["n_neg"] == 200


def test_splits_binary_tags_and_min_count():
    tag = LabelColumn("glasses", np.array([0, 1] * 10 + [-1]), ("0", "1"))
    rare = LabelColumn("hat", np.array([1, 1] + [0] * 19), ("0", "1"))
    s = splits_of([tag, rare], min_count=5)
    assert [x.name for x in s] == ["glasses"] and (s[0].target == -1).sum() == 1


def test_saved_directions_are_a_codes_file(tmp_path):
    z, cols, _, _ = _planted(200)
    d = find_directions(z, cols)
    path = save_directions(tmp_path, d, {"checkpoint": "x"})
    vec, names, header = load_codes(path)
    assert names == d.names and torch.allclose(vec, d.vectors)
    assert header["extra"]["kind"] == "directions" and set(header["extra"]["accuracy"]) == set(d.names)
    assert json.loads((tmp_path / "directions.json").read_text())["checkpoint"] == "x"


class _ColourModel(nn.Module):
    """decode: z[0] turns the image from blue to red, z[1] makes it brighter."""

    spec = SimpleNamespace(shape=(3, 8, 8), size=8, channels=3)

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def decode(self, z):
        r, b = torch.sigmoid(3 * z[:, 0]), 1 - torch.sigmoid(3 * z[:, 0])
        light = torch.tanh(z[:, 1])
        img = torch.stack([r, 0 * r, b], 1)[:, :, None, None] + 0.3 * light[:, None, None, None]
        return img.expand(-1, -1, 8, 8).clamp(-1, 1)


class _Probe:
    config = SimpleNamespace(targets=[ProbeTarget("colour", ("red", "blue")), ProbeTarget("light", None, 0.0, 1.0)])

    def predict(self, x):
        m = x.mean((2, 3))  # [B, 3]
        logits = torch.stack([m[:, 0] - m[:, 2], m[:, 2] - m[:, 0]], 1) * 8
        return {"colour": logits.softmax(1), "light": m.mean(1) * 0.5 + 0.5}


def test_effect_matrix_puts_each_direction_on_its_attribute():
    z = torch.randn(64, 4) * 0.3
    dirs = Directions(torch.eye(4)[:2], ["colour=red", "light"],
                      [{"projection_std": 1.0, "attribute": "colour"}, {"projection_std": 1.0, "attribute": "light"}])
    eff = direction_effects(_ColourModel(), _Probe(), z, dirs, alpha=1.0)
    m = np.array(eff["matrix"])  # rows: colour, light, random; cols: colour, light
    assert eff["directions"][-1] == "random#0" and m.shape == (3, 2)
    assert m[0, 0] > 5 * m[0, 1] and m[1, 1] > 5 * m[1, 0]
    assert eff["target_change"][0] > 0.2 and eff["target_change"][1] > 0


def test_tag_csv_matched_by_file_name(tmp_path):
    ds = open_source("synth:12")
    csv = tmp_path / "tags.csv"
    csv.write_text("filename,smile,hair,size\n000001.png,1,blonde,0.5\nsub/000002.png,0,black,2\n"
                   "000003.png,1,,1\nnope.png,1,black,3\n")
    m = labels_from_csv(csv, ds)
    assert m.matched == 3 and m.unmatched_rows == ["nope.png"] and m.unlabelled_images == 9
    cols = {c.name: c for c in m.columns}
    assert cols["smile"].classes == ("0", "1") and list(cols["smile"].values[:4]) == [-1, 1, 0, 1]
    assert cols["hair"].classes == ("black", "blonde") and cols["hair"].values[3] == -1
    assert cols["size"].classes is None and cols["size"].values[2] == 2.0


def test_tag_csv_matches_prepared_manifest_sources(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"files": [{"source": "a/x.png#face0"}, {"source": "b/y.jpg"}]}))
    ds = ImageSet(np.zeros((2, 8, 8, 3), np.uint8), "mine", "fp", meta={"path": str(tmp_path)})
    csv = tmp_path / "t.csv"
    csv.write_text("file,cat\nx.png,1\nb/y.jpg,0\n")
    m = labels_from_csv(csv, ds)
    assert m.matched == 2 and list(m.columns[0].values) == [1, 0]


@pytest.mark.parametrize("text,match", [("filename,t\n000001.png,1\n000002.png,yes\n000003.png,2\n", "mixes"),
                                        ("x,t\n000001.png,1\n", "file-name column"),
                                        ("filename,t\nzzz.png,1\n", "none of its"),
                                        ("filename,t\n000001.png,only\n", "distinct values")])
def test_bad_csv_is_a_one_line_error(tmp_path, text, match):
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(AnimegenError, match=match):
        labels_from_csv(tmp_path / "t.csv", open_source("synth:8"))
