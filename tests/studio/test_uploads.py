from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image
from studio_fixtures import bad_files, huge_png, png_bytes

from animegen.studio.uploads import MAX_UPLOAD_PIXELS, UploadError, decode_upload, inside, read_upload, sniff


def test_sniff_knows_the_accepted_types():
    assert sniff(png_bytes()[:16]) == "PNG"
    assert sniff(b"\xff\xd8\xff\xe0" + b"0" * 12) == "JPEG"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WEBP"
    assert sniff(b"<svg xmlns=...>") is None and sniff(b"") is None


def test_a_good_upload_is_cropped_square(tmp_path):
    p = tmp_path / "face.png"
    p.write_bytes(png_bytes(40, 30))
    a = read_upload(p, roots=[tmp_path])
    assert a.shape == (1, 30, 30, 3) and a.dtype == np.uint8


def test_transparency_goes_on_white_like_prepare(tmp_path):
    p = tmp_path / "clear.png"
    Image.new("RGBA", (16, 16), (255, 0, 0, 0)).save(p)
    assert (read_upload(p, roots=None) == 255).all()


@pytest.mark.parametrize("kind, message", [("not-an-image", "not an image"), ("huge", "too many pixels"),
                                           ("truncated", "truncated")])
def test_bad_uploads_are_refused_with_a_reason(tmp_path, kind, message):
    path = bad_files(tmp_path)[kind]
    with pytest.raises(UploadError, match=message):
        read_upload(path, roots=[tmp_path])


def test_bomb_is_refused_from_its_header():
    data = huge_png()
    assert len(data) < 200_000  # small file, 400 M pixels
    with pytest.raises(UploadError, match=f"{MAX_UPLOAD_PIXELS:,}"):
        decode_upload(data)


def test_size_place_and_kind_of_file_are_checked_before_decoding(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(png_bytes() + b"\x00" * 2048)
    with pytest.raises(UploadError, match="larger than"):
        read_upload(big, roots=[tmp_path], max_bytes=1024)
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.png"
    outside.write_bytes(png_bytes())
    with pytest.raises(UploadError, match="not in the upload folder"):
        read_upload(outside, roots=[tmp_path])
    link = tmp_path / "link.png"
    link.symlink_to(outside)
    assert not inside(link, [tmp_path])
    with pytest.raises(UploadError, match="not in the upload folder"):
        read_upload(link, roots=[tmp_path])
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(UploadError, match="empty"):
        read_upload(tmp_path / "empty.png", roots=[tmp_path])
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(UploadError, match="not a regular file"):
        read_upload(fifo, roots=[tmp_path])
    with pytest.raises(UploadError, match="no file"):
        read_upload("", roots=[tmp_path])


def test_tiny_images_are_refused():
    import io

    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="PNG")
    with pytest.raises(UploadError, match="too small"):
        decode_upload(buf.getvalue())
