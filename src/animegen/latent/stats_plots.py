"""Figures of :mod:`animegen.latent.stats` (matplotlib, Agg backend): one column per model, side by side.

* ``histograms.png``: code values pooled over dimensions, and the per-dimension std;
* ``distances.png``: same face augmented vs same identity, other expression vs different faces;
* ``pca.png``: the codes projected on their first two principal components, coloured by an attribute —
  seed 000's "separate clusters (AE) vs one continuous region (VAE)" picture.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from animegen.latent.probe import LabelColumn
from animegen.latent.stats import pca_2d

DIST_KEYS = (("same_face_augmented", "same face, augmented"),
             ("same_identity_other_expression", "same identity, other expression"),
             ("different_faces", "different faces"))


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    from animegen import __version__
    from animegen.fsutil import MARKER, atomic_write_bytes

    buf = io.BytesIO()  # the Software tEXt chunk marks the file as ours (fsutil.check_output)
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": f"{MARKER} {__version__}"})
    _plt().close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def plot_histograms(stats: list[dict[str, Any]], names: list[str], path: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(2, len(stats), figsize=(4.2 * len(stats), 6), squeeze=False)
    for j, (s, nm) in enumerate(zip(stats, names, strict=True)):
        z = s["codes"].numpy().ravel()
        axes[0, j].hist(z, bins=80, color="tab:blue")
        axes[0, j].set_title(f"{nm}: code values (all dims)\n"
                             f"mean std {s['mean_std']:.3g}, mean norm {s['mean_norm']:.3g}", fontsize=9)
        std = np.sort(np.asarray(s["per_dim"]["std"]))[::-1]
        axes[1, j].bar(np.arange(len(std)), std, width=1.0, color="tab:orange")
        axes[1, j].set_yscale("log")
        axes[1, j].set_title(f"per-dimension std, sorted ({s['active_units']}/{s['latent_dim']} active)", fontsize=9)
    return _save(fig, path)


def plot_distances(stats: list[dict[str, Any]], names: list[str], path: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, len(stats), figsize=(4.5 * len(stats), 3.4), squeeze=False)
    for j, (s, nm) in enumerate(zip(stats, names, strict=True)):
        ax = axes[0, j]
        for key, label in DIST_KEYS:
            d = s.get("_distances_raw", {}).get(key)
            if d is not None and len(d):
                ax.hist(d, bins=40, alpha=0.55, label=label, density=True)
        ax.set_title(f"{nm}: code distances (Euclidean)", fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_pca(stats: list[dict[str, Any]], names: list[str], column: LabelColumn | None, path: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, len(stats), figsize=(4.5 * len(stats), 4), squeeze=False)
    for j, (s, nm) in enumerate(zip(stats, names, strict=True)):
        xy, ratio = pca_2d(s["codes"])
        ax = axes[0, j]
        if column is not None:
            v = column.values[s["index"]]
            if column.is_class:
                assert column.classes is not None
                cmap = "hsv" if column.name.endswith("_hue") else "tab10"
                sc = ax.scatter(xy[:, 0], xy[:, 1], c=v, s=4, cmap=cmap, vmin=0, vmax=max(1, len(column.classes)))
                handles = [plt.Line2D([], [], ls="", marker="o", color=sc.cmap(sc.norm(k)), label=c)
                           for k, c in enumerate(column.classes)][:12]
                ax.legend(handles=handles, fontsize=6, loc="best", markerscale=0.8)
            else:
                sc = ax.scatter(xy[:, 0], xy[:, 1], c=v, s=4, cmap="viridis")
                fig.colorbar(sc, ax=ax, fraction=0.046)
        else:
            ax.scatter(xy[:, 0], xy[:, 1], s=4)
        ax.set_title(f"{nm}: PCA of codes ({100 * sum(ratio):.0f}% of variance)"
                     + (f"\ncoloured by {column.name}" if column is not None else ""), fontsize=9)
        ax.set_aspect("equal", adjustable="datalim")
    return _save(fig, path)


def write_figures(folder: str | os.PathLike, stats: list[dict[str, Any]], names: list[str],
                  column: LabelColumn | None) -> list[Path]:
    folder = Path(folder)
    return [plot_histograms(stats, names, folder / "histograms.png"),
            plot_distances(stats, names, folder / "distances.png"),
            plot_pca(stats, names, column, folder / "pca.png")]
