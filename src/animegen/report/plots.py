"""Report charts (matplotlib, Agg canvas, no pyplot state): loss curves per term and health signals.

Every chart is returned as PNG bytes. Curves are drawn twice: the raw values faint, and an exponential
moving average on top (debiased like TensorBoard's smoothing, so the first points are not pulled to 0).
"""
from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np

Series = tuple[Sequence[float], Sequence[float]]
"""(steps, values) of one curve."""

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
LOG_RATIO = 30.0
"""A panel goes log-scale when its positive values span more than this factor (a VAE loss falls 10-100×)."""


def ema_smooth(values: Sequence[float] | np.ndarray, beta: float | None = None) -> np.ndarray:
    """Debiased exponential moving average ``m_t = β m_{t-1} + (1-β) v_t``, ``m_t / (1-β^t)``.

    ``beta=None`` picks ``1 - 10/n`` clipped to [0, 0.98]: about a tenth of the curve per time constant,
    no smoothing for fewer than 10 points.
    """
    v = np.asarray(values, dtype=np.float64)
    if beta is None:
        beta = min(0.98, max(0.0, 1.0 - 10.0 / max(len(v), 1)))
    out = np.empty_like(v)
    m, w = 0.0, 0.0
    for i, x in enumerate(v):
        m = beta * m + (1 - beta) * x
        w = beta * w + (1 - beta)
        out[i] = m / w if w > 0 else x
    return out


def wants_log(values: Sequence[float]) -> bool:
    """Log scale when every value is positive and they span more than :data:`LOG_RATIO`."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    return bool(len(v) > 1 and (v > 0).all() and v.max() / v.min() > LOG_RATIO)


def _figure(n_panels: int, ncols: int, panel_w: float = 3.4, panel_h: float = 2.4):
    from matplotlib.figure import Figure

    ncols = max(1, min(ncols, n_panels))
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(panel_w * ncols, panel_h * nrows), dpi=100, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", pil_kwargs={"compress_level": 1})  # zlib's fastest level: charts are flat colour
    return buf.getvalue()


def _finite(s: Series) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(s[0], dtype=np.float64)
    y = np.asarray(s[1], dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def curves_png(panels: Mapping[str, Mapping[str, Series]], ncols: int = 3, xmax: float | None = None,
               xlabel: str = "step") -> bytes:
    """Small multiples: one panel per title, one line per label (raw faint, EMA-smoothed bold), a shared
    step axis (``xmax``), log scale per panel where :func:`wants_log` says so."""
    if not panels:
        raise ValueError("curves_png: nothing to plot")
    fig, axes = _figure(len(panels), ncols)
    for ax, (title, lines) in zip(axes, panels.items(), strict=True):
        values: list[float] = []
        for i, (label, series) in enumerate(lines.items()):
            x, y = _finite(series)
            if not len(x):
                continue
            color = COLORS[i % len(COLORS)]
            ax.plot(x, y, color=color, alpha=0.25, linewidth=0.8)
            ax.plot(x, ema_smooth(y), color=color, linewidth=1.6, label=label)
            values.extend(y.tolist())
        if wants_log(values):
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if xmax:
            ax.set_xlim(0, xmax)
        if len(lines) > 1:
            ax.legend(fontsize=7, frameon=False)
        ax.set_xlabel(xlabel, fontsize=7)
    return _png(fig)


def health_png(diversity: Mapping[str, Series], lr_scale: Mapping[str, Series], rollbacks: Sequence[float] = (),
               warnings: Sequence[float] = (), threshold: float | None = None, xmax: float | None = None) -> bytes:
    """Two panels on one step axis: the sample-diversity ratio (generated / real, with the collapse
    threshold and each collapse warning marked) and the learning-rate scale (each rollback marked)."""
    fig, axes = _figure(2, 2, panel_w=5.0)
    ax_d, ax_lr = axes
    for i, (label, series) in enumerate(diversity.items()):
        x, y = _finite(series)
        ax_d.plot(x, y, marker="o", markersize=2.5, color=COLORS[i % len(COLORS)], label=label)
    if threshold is not None:
        ax_d.axhline(threshold, color="#a40", linestyle="--", linewidth=1, label="collapse warning below")
    for j, s in enumerate(warnings):
        ax_d.axvline(s, color="#ff7f0e", alpha=0.6, linewidth=1, label="collapse warning" if j == 0 else None)
    ax_d.set_title("sample diversity / real data's", fontsize=9)
    ax_d.set_ylim(bottom=0)
    for i, (label, series) in enumerate(lr_scale.items()):
        x, y = _finite(series)
        ax_lr.step(x, y, where="post", color=COLORS[i % len(COLORS)], label=label)
    for j, s in enumerate(rollbacks):
        ax_lr.axvline(s, color="#d62728", alpha=0.7, linewidth=1, label="rollback" if j == 0 else None)
    ax_lr.set_title("learning-rate scale (cut at each rollback)", fontsize=9)
    ax_lr.set_ylim(0, 1.1)
    for ax in axes:
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.set_xlabel("step", fontsize=7)
        if xmax:
            ax.set_xlim(0, xmax)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, frameon=False)
    return _png(fig)
