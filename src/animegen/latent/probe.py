"""Attribute probes: the measuring stick of the latent toolkit.

Two kinds:

* **linear probes on codes** (:func:`linear_probe`): logistic regression for a binary split (a class vs
  the rest, or the top vs the bottom quantile of a continuous attribute) and ridge regression for a
  continuous value, fitted on one part of the codes and scored on a held-out part (Alain & Bengio 2017,
  "Understanding intermediate layers using linear classifier probes").
* **an image-space attribute classifier** (:class:`ImageProbe`): a small CNN trained on labelled images
  (the synthetic faces out of the box) that predicts every attribute of any image, in particular of
  *decoded* ones: did moving a code change the hair colour? did a reconstruction keep it?

How attributes become probe targets (:func:`label_columns`): categorical attributes are classes; cyclic
hues (``hair_hue``, ``eye_hue``, ...) are binned into six named colour classes (``HUE_CLASSES``, bins
centred on red, yellow, green, cyan, blue, magenta), because a hue of 0.02 and one of 0.98 are the same
red; other continuous attributes are regressed, scaled to [0, 1] by their range.

    probe = default_probe()                     # trained once on synthetic faces, cached by fingerprint
    pred = probe.predict(model.decode(z))       # {"hair_hue": probs [B, 6], "blush": values [B], ...}
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from animegen.errors import CheckpointError

HUE_CLASSES = ("red", "yellow", "green", "cyan", "blue", "magenta")
PROBE_FORMAT = "animegen-image-probe"
PROBE_VERSION = 1


# ----------------------------------------------------------------------------- label columns


@dataclass
class LabelColumn:
    """One labelled attribute of a data set: class codes or continuous values per image."""

    name: str
    values: np.ndarray  # [N] int64 class codes (-1 = unknown) or float32 values (NaN = unknown)
    classes: tuple[str, ...] | None = None  # None: continuous
    low: float = 0.0  # continuous: range used to scale to [0, 1]
    high: float = 1.0

    @property
    def is_class(self) -> bool:
        return self.classes is not None

    def known(self) -> np.ndarray:
        return self.values >= 0 if self.is_class else np.isfinite(self.values)


def hue_class(hue: np.ndarray) -> np.ndarray:
    """Cyclic hue in [0, 1) → index into ``HUE_CLASSES`` (nearest of six centres)."""
    return (np.floor(np.asarray(hue, dtype=np.float64) * 6 + 0.5).astype(np.int64)) % 6


def label_columns(labels: dict[str, np.ndarray], meta: dict[str, Any] | None = None) -> list[LabelColumn]:
    """Labels of an ImageSet → probe columns. Synthetic attributes use their declared kinds (hues → colour
    classes); other integer labels (MNIST ``digit``) are classes named by their value; floats are values."""
    from animegen.data.synthetic import ATTRIBUTE_BY_NAME

    cols = []
    for name, arr in labels.items():
        arr = np.asarray(arr)
        at = ATTRIBUTE_BY_NAME.get(name)
        if at is not None and at.kind == "categorical":
            cols.append(LabelColumn(name, arr.astype(np.int64), tuple(at.values)))
        elif at is not None and name.endswith("_hue"):
            cols.append(LabelColumn(name, hue_class(arr), HUE_CLASSES))
        elif at is not None:
            cols.append(LabelColumn(name, arr.astype(np.float32), None, at.low, at.high))
        elif arr.dtype.kind in "iub":
            top = int(arr.max()) if arr.size else 0
            cols.append(LabelColumn(name, arr.astype(np.int64), tuple(str(i) for i in range(top + 1))))
        else:
            v = arr.astype(np.float32)
            fin = v[np.isfinite(v)]
            lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (0.0, 1.0)
            cols.append(LabelColumn(name, v, None, lo, hi if hi > lo else lo + 1.0))
    return cols


# ----------------------------------------------------------------------------- linear probes on codes


@dataclass
class ProbeScore:
    metric: str  # "balanced_accuracy" or "r2"
    value: float
    chance: float  # what a constant guess scores (0.5 balanced accuracy, 0 R²)
    n_train: int
    n_test: int


def split_mask(n: int, test_frac: float = 0.2, seed: int = 0) -> np.ndarray:
    """bool [n]: True for the held-out rows (a fixed random share)."""
    rng = np.random.default_rng(seed)
    test = np.zeros(n, dtype=bool)
    test[rng.permutation(n)[: max(1, int(round(n * test_frac)))]] = True
    return test


def _standardise(x: Tensor, train: Tensor) -> Tensor:
    mu, sd = x[train].mean(0), x[train].std(0).clamp_min(1e-6)
    return (x - mu) / sd


def linear_probe(codes: Tensor, target: np.ndarray, test: np.ndarray, kind: str = "binary",
                 l2: float = 1e-3, iters: int = 100) -> ProbeScore:
    """Fit a linear probe on codes ``[N, D]`` (rows where ``~test``) and score it on the ``test`` rows.

    ``kind="binary"``: ``target`` is 0/1 (−1 = ignore); class-balanced logistic regression (L-BFGS),
    scored by balanced accuracy. ``kind="value"``: ridge regression, scored by held-out R².
    """
    target = np.asarray(target)
    keep = target >= 0 if kind == "binary" else np.isfinite(target)
    x = codes.double()
    tr = torch.from_numpy(keep & ~test)
    te = torch.from_numpy(keep & test)
    n_tr, n_te = int(tr.sum()), int(te.sum())
    if kind == "value":
        y = torch.from_numpy(np.nan_to_num(target.astype(np.float64)))
        if n_tr < 2 or n_te < 2:
            return ProbeScore("r2", float("nan"), 0.0, n_tr, n_te)
        xs = torch.cat([_standardise(x, tr), torch.ones(len(x), 1, dtype=x.dtype)], 1)  # [N, D+1]
        a = xs[tr]
        w = torch.linalg.solve(a.T @ a + l2 * n_tr * torch.eye(a.shape[1], dtype=a.dtype), a.T @ y[tr])  # ridge
        pred, yt = xs[te] @ w, y[te]
        r2 = 1.0 - float(((pred - yt) ** 2).sum() / ((yt - yt.mean()) ** 2).sum().clamp_min(1e-12))
        return ProbeScore("r2", r2, 0.0, n_tr, n_te)
    y = torch.from_numpy(np.clip(target, 0, 1).astype(np.float64))
    if n_tr < 2 or n_te < 2 or len(set(y[tr].tolist())) < 2:
        return ProbeScore("balanced_accuracy", float("nan"), 0.5, n_tr, n_te)
    xs = _standardise(x, tr)
    pos = float(y[tr].mean())
    wt = torch.where(y == 1, 0.5 / pos, 0.5 / (1 - pos))  # class-balanced weights
    w = torch.zeros(x.shape[1], dtype=x.dtype, requires_grad=True)
    b = torch.zeros((), dtype=x.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = xs[tr] @ w + b  # [n_tr]
        loss = (wt[tr] * F.binary_cross_entropy_with_logits(logits, y[tr], reduction="none")).mean()
        loss = loss + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        hit = ((xs[te] @ w + b > 0).double() == y[te]).double()
        yt = y[te]
        accs = [float(hit[yt == c].mean()) for c in (0.0, 1.0) if bool((yt == c).any())]
    return ProbeScore("balanced_accuracy", float(np.mean(accs)), 0.5, n_tr, n_te)


# ----------------------------------------------------------------------------- image-space probe


@dataclass
class ProbeTarget:
    name: str
    classes: tuple[str, ...] | None  # None: a value in [0, 1] (scaled by low/high)
    low: float = 0.0
    high: float = 1.0


@dataclass
class ProbeConfig:
    size: int = 64  # images are resized to this before the network
    channels: int = 3
    widths: tuple[int, ...] = (32, 64, 96, 128)
    targets: list[ProbeTarget] = field(default_factory=list)


class ImageProbe(nn.Module):
    """A small CNN with one head per attribute: class logits, or a value in [0, 1]."""

    def __init__(self, config: ProbeConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = [nn.Conv2d(config.channels, 16, 3, 1, 1), nn.ReLU(inplace=True)]
        c_in, side = 16, config.size
        for w in config.widths:  # each block halves the resolution: 64 → 32 → 16 → 8 → 4
            layers += [nn.Conv2d(c_in, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c_in, side = w, side // 2
        self.features = nn.Sequential(*layers)
        self.sizes = [len(t.classes) if t.classes else 1 for t in config.targets]
        # the head sees the whole final map, not its average: where a feature is (mouth, eyes) matters
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(c_in * side * side, sum(self.sizes)))

    def forward(self, x: Tensor) -> list[Tensor]:
        """Images ``[B, C, H, W]`` in [-1, 1] → per target: logits ``[B, K]`` or values ``[B]``."""
        from animegen.imaging import resize_tensor

        x = resize_tensor(x.float(), self.config.size)  # [B, C, S, S]
        if x.shape[1] != self.config.channels:
            x = x.mean(1, keepdim=True).expand(-1, self.config.channels, -1, -1)
        out = self.head(self.features(x))  # [B, sum(sizes)] from features [B, widths[-1], S/16, S/16]
        parts = list(out.split(self.sizes, dim=1))
        return [p if t.classes else p[:, 0] for p, t in zip(parts, self.config.targets, strict=True)]

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 256) -> dict[str, Tensor]:
        """Images ``[B, C, H, W]`` → ``{name: class probabilities [B, K] | value in attribute units [B]}``."""
        was = self.training
        self.eval()
        try:
            dev = next(self.parameters()).device
            chunks = [self(x[i:i + batch_size].to(dev)) for i in range(0, len(x), batch_size)]
        finally:
            self.train(was)
        out = {}
        for j, t in enumerate(self.config.targets):
            p = torch.cat([c[j].float().cpu() for c in chunks])
            out[t.name] = p.softmax(1) if t.classes else t.low + (t.high - t.low) * p
        return out


def _targets_of(columns: list[LabelColumn]) -> list[ProbeTarget]:
    return [ProbeTarget(c.name, c.classes, c.low, c.high) for c in columns]


def _target_arrays(columns: list[LabelColumn]) -> list[Tensor]:
    out = []
    for c in columns:
        if c.is_class:
            out.append(torch.from_numpy(c.values.astype(np.int64)))
        else:
            out.append(torch.from_numpy(((c.values - c.low) / (c.high - c.low)).astype(np.float32)))
    return out


def _probe_loss(outs: list[Tensor], ys: list[Tensor], columns: list[LabelColumn]) -> Tensor:
    loss = outs[0].new_zeros(())
    for o, y, c in zip(outs, ys, columns, strict=True):
        if c.is_class:
            loss = loss + F.cross_entropy(o, y, ignore_index=-1)
        else:
            ok = torch.isfinite(y)
            loss = loss + 10.0 * F.mse_loss(o[ok], y[ok]) if bool(ok.any()) else loss  # values in [0, 1]
    return loss


def score_image_probe(probe: ImageProbe, images: Tensor, columns: list[LabelColumn]) -> dict[str, dict[str, float]]:
    """Per attribute: accuracy (classes) or R² and mean absolute error in attribute units (values)."""
    pred = probe.predict(images)
    scores: dict[str, dict[str, float]] = {}
    for c in columns:
        p = pred[c.name].numpy()
        ok = c.known()
        if c.is_class:
            scores[c.name] = {"accuracy": float((p.argmax(1)[ok] == c.values[ok]).mean()),
                              "chance": float(np.bincount(c.values[ok]).max() / max(1, ok.sum()))}
        else:
            y = c.values[ok]
            r2 = 1 - float(((p[ok] - y) ** 2).sum() / max(1e-12, float(((y - y.mean()) ** 2).sum())))
            scores[c.name] = {"r2": r2, "mae": float(np.abs(p[ok] - y).mean())}
    return scores


def train_image_probe(images: np.ndarray, columns: list[LabelColumn], epochs: int = 6, batch_size: int = 64,
                      lr: float = 2e-3, seed: int = 0, size: int | None = None,
                      test_frac: float = 0.15) -> tuple[ImageProbe, dict[str, Any]]:
    """Train an :class:`ImageProbe` on uint8 images ``[N, H, W, C]`` and their label columns; returns the
    probe (eval mode) and a report with held-out scores (:func:`score_image_probe`)."""
    from animegen.imaging import to_tensor
    from animegen.progress import progress

    torch.manual_seed(seed)
    n = len(images)
    test = split_mask(n, test_frac, seed)
    x = to_tensor(np.asarray(images))  # [N, C, H, W]
    ys = _target_arrays(columns)
    probe = ImageProbe(ProbeConfig(size=size or int(images.shape[1]), channels=int(images.shape[3]),
                                   targets=_targets_of(columns)))
    opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=1e-4)
    train_idx = np.flatnonzero(~test)
    steps = epochs * max(1, len(train_idx) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    rng = np.random.default_rng(seed)
    probe.train()
    bar = progress(total=steps, desc="training image probe", unit="step")
    for _ in range(epochs):
        order = rng.permutation(train_idx)
        for i in range(0, len(order) - batch_size + 1, batch_size):
            idx = torch.from_numpy(order[i:i + batch_size])
            loss = _probe_loss(probe(x[idx]), [y[idx] for y in ys], columns)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
    bar.close()
    probe.eval()
    held = np.flatnonzero(test)
    sub = [LabelColumn(c.name, c.values[held], c.classes, c.low, c.high) for c in columns]
    report = {"n_train": int(len(train_idx)), "n_test": int(len(held)), "epochs": epochs,
              "held_out": score_image_probe(probe, x[torch.from_numpy(held)], sub)}
    return probe, report


def save_probe(path: str | os.PathLike, probe: ImageProbe, extra: dict[str, Any] | None = None) -> Path:
    """Write the probe as safetensors + a JSON header (no pickle)."""
    from animegen.checkpoint import save_tensors

    cfg = asdict(probe.config)
    header = {"format": PROBE_FORMAT, "format_version": PROBE_VERSION, "config": cfg, "extra": extra or {}}
    save_tensors(path, probe.state_dict(), header)
    return Path(path)


def load_probe(path: str | os.PathLike) -> ImageProbe:
    """Read a probe written by :func:`save_probe` (``probe.report`` holds its training report)."""
    from safetensors import safe_open

    p = Path(path)
    try:
        with safe_open(str(p), framework="pt") as f:
            header = json.loads((f.metadata() or {}).get("animegen", "null"))
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors/json raise several types for damaged files
        why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{p}: unreadable probe file ({why})") from None
    if not isinstance(header, dict) or header.get("format") != PROBE_FORMAT:
        raise CheckpointError(f"{p}: not an animegen image-probe file")
    c = header["config"]
    targets = [ProbeTarget(t["name"], tuple(t["classes"]) if t["classes"] else None, t["low"], t["high"])
               for t in c["targets"]]
    cfg = ProbeConfig(int(c["size"]), int(c["channels"]), tuple(c["widths"]), targets)
    probe = ImageProbe(cfg)
    try:
        probe.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{p}: probe weights do not match its header ({str(exc)[:200]})") from None
    probe.report = header.get("extra", {})  # type: ignore[assignment]
    return probe.eval()


def probe_cache_dir() -> Path:
    return Path(os.environ.get("ANIMEGEN_CACHE", "~/.cache/animegen")).expanduser() / "probes"


def default_probe(size: int = 64, n: int = 4000, seed: int = 7, epochs: int = 6, cache: bool = True) -> ImageProbe:
    """The image probe for the synthetic faces: trained on ``synth:n:seed`` (a seed no recipe trains on) at
    ``size`` px, cached under ``$ANIMEGEN_CACHE/probes`` by the data fingerprint and the probe settings."""
    from animegen.data.synthetic import fingerprint
    from animegen.progress import info

    key = hashlib.sha256(f"{fingerprint(n, size, seed, False)}|{epochs}|v{PROBE_VERSION}".encode()).hexdigest()[:16]
    path = probe_cache_dir() / f"synth-probe-{key}.safetensors"
    if cache and path.is_file():
        try:
            return load_probe(path)
        except CheckpointError:
            pass  # damaged cache entry: train again
    from animegen.data.synthetic import render_faces

    info(f"training the image attribute probe on {n} synthetic faces at {size} px (once; cached)")
    images, labels = render_faces(n, size, seed, progress=True)
    probe, report = train_image_probe(images, label_columns(labels), epochs=epochs, seed=seed)
    report["data"] = f"synth:{n}:{seed}"
    probe.report = report  # type: ignore[assignment]
    if cache:
        try:
            save_probe(path, probe, report)
        except OSError:  # a read-only cache only costs time
            pass
    return probe
