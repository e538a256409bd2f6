"""Outliers by reconstruction error, and the keep-list round trip through `prepare --keep-list`."""
import csv

import numpy as np
import pytest
import torch
from latent_models import tiny

from animegen.data.keeplist import read_keep_list, write_keep_list
from animegen.data.pipeline import PrepareOptions
from animegen.data.prepare import prepare
from animegen.data.prepared import load_prepared, read_manifest
from animegen.data.sources import ImageSet, open_source
from animegen.errors import AnimegenError
from animegen.imaging import save_png, to_tensor
from animegen.latent.outliers import NeedsEncoder, OutlierReport, rank_outliers, reconstruction_errors, source_names
from animegen.models import SimpleContext


def _trained_ae(faces: np.ndarray, steps: int = 60):
    """A tiny AE fitted to ``faces`` for a few steps: enough to reconstruct faces better than noise."""
    model = tiny("ae")
    model.train()
    ctx = SimpleContext(model.make_optimizers())
    x = to_tensor(faces)  # [N, C, H, W]
    for step in range(steps):
        ctx.step = step
        model.train_step(x[torch.randperm(len(x))[:16]], ctx)
    return model.eval()


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    """A folder of 24 synthetic faces and 4 noise images (16 px PNGs), and an AE fitted to the faces."""
    root = tmp_path_factory.mktemp("crawl")
    faces = open_source("synth:24:5", size=16).images  # [24, 16, 16, 3]
    for i, im in enumerate(faces):
        save_png(im, root / f"face_{i:02d}.png")
    rng = np.random.default_rng(0)
    for i in range(4):
        save_png(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), root / f"noise_{i}.png")
    return root, _trained_ae(faces)


def test_report_ranks_keep_mask_and_threshold():
    rep = OutlierReport(np.array([0.1, 0.5, 0.2, 0.5, 0.0]), list("abcde"))
    assert rep.order.tolist() == [1, 3, 2, 0, 4]  # worst first, ties by index
    assert rep.ranks().tolist() == [4, 1, 3, 2, 5]
    assert rep.keep_names(drop_top=2) == ["a", "c", "e"]
    assert rep.keep_names(threshold=60) == ["a", "c", "e"]  # 60th percentile of the scores = 0.2
    with pytest.raises(AnimegenError, match="percentile"):
        rep.keep_mask(threshold=0)
    js = rep.to_json(top=2, threshold=None, drop_top=2)
    assert [w["name"] for w in js["worst"]] == ["b", "d"] and js["kept"] == 3


def test_gan_needs_an_encoder():
    with pytest.raises(NeedsEncoder, match="--invert"):
        reconstruction_errors(tiny("dcgan"), np.zeros((2, 16, 16, 3), np.uint8))


def test_gan_through_inversion_scores_every_image():
    ds = ImageSet(np.random.default_rng(1).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8), "x", "fp")
    rep = rank_outliers(tiny("dcgan"), ds, invert=True, steps=2, restarts=1)
    assert rep.method == "inversion" and rep.scores.shape == (3,) and np.isfinite(rep.scores).all()
    assert rep.named_by_rows and any("row numbers" in n for n in rep.notes)


def test_keep_list_round_trip_removes_the_noise(crawl, tmp_path):
    root, model = crawl
    opts = PrepareOptions(size=16, dedup=False)
    first = prepare(str(root), tmp_path / "all", opts, workers=1, quiet=True)
    assert first.count == 28
    ds = load_prepared(tmp_path / "all")
    rep = rank_outliers(model, ds)
    worst = {rep.names[i] for i in rep.order[:4]}
    assert worst == {f"noise_{i}.png" for i in range(4)}, rep.to_json(6, None, 0)["worst"]
    write_keep_list(tmp_path / "keep.txt", rep.keep_names(drop_top=4), header="test\nkeep-list")
    keep = read_keep_list(tmp_path / "keep.txt")
    assert len(keep) == 24 and not any(n.startswith("#") for n in keep)
    second = prepare(str(root), tmp_path / "clean", opts, workers=1, quiet=True, keep=keep)
    assert second.count == 24 and second.dropped == {"not-in-keep-list": 4}
    names = [f["source"] for f in read_manifest(tmp_path / "clean")["files"]]
    assert not any(n.startswith("noise") for n in names) and len(names) == 24
    with open(tmp_path / "clean" / "rejects.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["path"] for r in rows) == sorted(worst) and {r["reason"] for r in rows} == {"not-in-keep-list"}


def test_source_names_fall_back_to_rows():
    names, by_rows = source_names(open_source("synth:3"))
    assert names == ["0", "1", "2"] and by_rows


def test_keep_list_file_errors(tmp_path):
    with pytest.raises(AnimegenError, match="no such file"):
        read_keep_list(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("# only a comment\n\n")
    with pytest.raises(AnimegenError, match="names no images"):
        read_keep_list(tmp_path / "empty.txt")
    with pytest.raises(AnimegenError, match="line break"):
        write_keep_list(tmp_path / "k.txt", ["a\nb"])
