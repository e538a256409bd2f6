from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from animegen import imaging


def test_uint8_tensor_round_trip():
    a = np.random.default_rng(0).integers(0, 256, (4, 9, 7, 3), dtype=np.uint8)
    t = imaging.to_tensor(a)
    assert t.shape == (4, 3, 9, 7) and t.min() >= -1 and t.max() <= 1
    assert np.array_equal(imaging.to_uint8(t), a)


def test_grid_layout_and_labels():
    imgs = torch.ones(5, 3, 4, 4)  # white tiles
    g = imaging.make_grid(imgs, nrow=3, padding=1, pad_value=0)
    assert g.shape == (2 * 4 + 3, 3 * 4 + 4, 3)
    assert g[1:5, 1:5].min() == 255 and g[0].max() == 0  # tile then padding row
    assert g[6:10, 11:15].max() == 0  # 6th slot is empty padding
    lab = imaging.make_grid(imgs, nrow=3, row_labels=["Real", "Guess"], col_labels=["a", "b", "c"])
    assert lab.shape[0] > g.shape[0] and lab.shape[1] > g.shape[1]
    gray = imaging.make_grid(torch.zeros(2, 1, 4, 4), scale=2, padding=0)
    assert gray.shape == (8, 16, 3)


def test_save_png_gif_mp4(tmp_path):
    frames = [np.full((16, 18, 3), i * 20, np.uint8) for i in range(6)]
    imaging.save_png(frames[3], tmp_path / "a.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), frames[3])
    imaging.save_gif(frames, tmp_path / "a.gif", fps=10, boomerang=True)
    gif = Image.open(tmp_path / "a.gif")
    assert gif.n_frames == 10
    pytest.importorskip("imageio_ffmpeg")
    imaging.save_mp4(frames, tmp_path / "a.mp4", fps=10)
    assert (tmp_path / "a.mp4").read_bytes()[4:8] == b"ftyp"


def test_resize_is_antialiased():
    # a 1-px checkerboard shrunk 4x must become flat grey, not aliased stripes
    y, x = np.mgrid[:64, :64]
    board = (((x + y) % 2) * 255).astype(np.uint8)
    img = np.repeat(board[None, :, :, None], 3, axis=3)
    small = imaging.resize_array(img, 16, "area")
    assert small.shape == (1, 16, 16, 3) and abs(int(small.mean()) - 127) <= 2 and small.std() < 2
    t = imaging.resize_tensor(imaging.to_tensor(img), 16)
    assert t.shape == (1, 3, 16, 16) and t.std() < 0.05
