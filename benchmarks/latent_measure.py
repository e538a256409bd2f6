"""The measuring half of the latent toolkit on the synthetic faces: an AE and a VAE trained on the same data.

1. trains ``configs/ae-faces64.toml`` and ``configs/vae-faces64.toml`` on ``synth:N`` (64 px, one thread,
   ``--cpu-minutes`` of process CPU each, no flips: a wink is on the image's right), or takes ``--ae``/``--vae``
   checkpoints already trained that way;
2. **direction-effect matrix** on the VAE: attribute directions from the codes of held-out synthetic faces
   (seed 3, which no training uses), then each face's code moved by +``--alpha`` projection stds along each
   direction; a cell is the mean change of the image probe's prediction of an attribute on the decoded faces
   (:func:`animegen.latent.directions.direction_effects`), with a random direction as the floor;
3. **seed 000's latent table** for both models (:mod:`animegen.latent.stats`).

Writes ``benchmarks/results/latent_measure.json`` and ``docs/images/latent_measure_{pca,directions}.png``,
and prints the Markdown tables of BENCHMARKS.md.

    python benchmarks/latent_measure.py --cpu-minutes 10                  # trains both, then measures
    python benchmarks/latent_measure.py --ae runs/ae-1 --vae runs/vae-1   # measures given checkpoints
    python benchmarks/latent_measure.py --smoke --out /tmp/lm             # seconds: tiny untrained models
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROWS = ("hair_hue=red", "hair_hue=blue", "hair_hue=green", "hair_lightness", "eye_hue=blue", "skin_tone",
        "mouth=smile", "eye_state=closed", "hair_style=twintails", "accessory=glasses", "bg_lightness", "tilt")
COLS = ("hair_hue", "hair_saturation", "hair_lightness", "eye_hue", "skin_tone", "mouth", "eye_state", "hair_style",
        "accessory", "bg_lightness", "bg_hue", "tilt")


def train(family: str, data: str, cpu_minutes: float, work: Path) -> Path:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    recipe = REPO / "configs" / f"{family}-faces64.toml"
    cmd = [sys.executable, "-m", "animegen", "-q", "train", "--config", str(recipe),
           "--data", data, "--out", str(work), "--name", family, "--set", "train.threads=1",
           "--set", f"train.max_cpu_minutes={cpu_minutes}", "--set", "train.max_minutes=0",
           "--set", "train.steps=10000000", "--set", "data.hflip=false"]
    run = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return Path(run)


def tiny_models(work: Path) -> tuple[Path, Path]:
    import torch

    from animegen.checkpoint import save_model
    from animegen.models import MODELS, DataSpec

    torch.manual_seed(0)
    paths = []
    for fam in ("ae", "vae"):
        m = MODELS[fam](MODELS[fam].config_cls(latent_dim=8, widths=(8, 8, 8, 8)), DataSpec(3, 32)).eval()
        paths.append(save_model(work / f"{fam}.safetensors", m))
    return paths[0], paths[1]


def _public_args(argv: list[str] | None) -> list[str]:
    args = list(argv if argv is not None else sys.argv[1:])
    return [x for i, x in enumerate(args) if not (i > 0 and args[i - 1] in ("--ae", "--vae", "--out"))]


def markdown(effects: dict, dirs_info: list[dict], table: list[dict]) -> str:
    cols = [c for c in COLS if c in effects["attributes"]]
    ci = [effects["attributes"].index(c) for c in cols]
    acc = {r["name"]: r["probe_balanced_accuracy"] for r in dirs_info}
    lines = ["| direction (probe acc.) | " + " | ".join(cols) + " | own Δ |", "|---" * (len(cols) + 2) + "|"]
    for name, row, own in zip(effects["directions"], effects["matrix"], effects["target_change"], strict=True):
        if name not in ROWS and not name.startswith("random"):
            continue
        best = max(row[i] for i in ci)
        cells = [(f"**{row[i]:.3f}**" if row[i] == best else f"{row[i]:.3f}") for i in ci]
        label = f"{name} ({acc[name]:.2f})" if name in acc else name
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {'' if own is None else f'{own:+.3f}'} |")
    names = [k for k in table[0] if k != "quantity"]
    lines += ["", "| quantity | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for r in table:
        lines.append(f"| {r['quantity']} | " + " | ".join(f"{r[nm]:.4g}" for nm in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ae", type=Path, help="AE checkpoint or run folder (else trained)")
    ap.add_argument("--vae", type=Path, help="VAE checkpoint or run folder (else trained)")
    ap.add_argument("--train-data", default="synth:20000", help="training set for the models (default synth:20000)")
    ap.add_argument("--cpu-minutes", type=float, default=10.0, help="process-CPU budget of each training")
    ap.add_argument("--data", default="synth:4000:3", help="held-out faces that are measured")
    ap.add_argument("--n", type=int, default=2000, help="faces for directions and stats")
    ap.add_argument("--faces", type=int, default=256, help="faces moved for the effect matrix")
    ap.add_argument("--alpha", type=float, default=2.0, help="step along a direction, in projection stds")
    ap.add_argument("--smoke", action="store_true", help="tiny untrained 32 px models, 120 faces: seconds")
    ap.add_argument("--out", type=Path, help="results folder (default: benchmarks/results + docs/images)")
    a = ap.parse_args(argv)

    import numpy as np
    import torch

    from animegen.checkpoint import load_model
    from animegen.cli.sample import resolve_checkpoint
    from animegen.data.sources import open_source
    from animegen.fsutil import atomic_write_json
    from animegen.imaging import save_png
    from animegen.latent import directions as D
    from animegen.latent.labels import builtin_columns
    from animegen.latent.probe import LabelColumn, default_probe, label_columns, train_image_probe
    from animegen.latent.stats import comparison_table, latent_stats
    from animegen.latent.stats_plots import plot_pca
    from animegen.train.device import machine_line

    torch.set_num_threads(1)
    t0, c0 = time.time(), time.process_time()
    results = a.out or REPO / "benchmarks" / "results"
    images = a.out or REPO / "docs" / "images"
    results.mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    if a.smoke:
        a.n, a.faces, a.data = 120, 16, "synth:120:3"
        ae_path, vae_path = tiny_models(results)
        from animegen.data.synthetic import render_faces

        im, lab = render_faces(200, 32, 7, workers=1)
        probe, _ = train_image_probe(im, label_columns(lab), epochs=1)
    else:
        work = REPO / "benchmarks" / "out" / "latent_measure"
        ae_path = resolve_checkpoint(a.ae) if a.ae else train("ae", a.train_data, a.cpu_minutes, work)
        vae_path = resolve_checkpoint(a.vae) if a.vae else train("vae", a.train_data, a.cpu_minutes, work)
        ae_path, vae_path = resolve_checkpoint(Path(ae_path)), resolve_checkpoint(Path(vae_path))
        tp = time.process_time()
        probe = default_probe(size=64)
        probe_cpu = time.process_time() - tp
    ae, vae = load_model(ae_path), load_model(vae_path)
    ds = open_source(a.data, size=vae.spec.size, channels=vae.spec.channels)
    idx = np.sort(np.random.default_rng(0).permutation(len(ds))[: min(a.n, len(ds))])
    codes = D.encode_images(vae, ds.images[idx])
    cols = [LabelColumn(c.name, c.values[idx], c.classes, c.low, c.high) for c in builtin_columns(ds)]
    dirs = D.find_directions(codes, cols)
    effects = D.direction_effects(vae, probe, codes[: a.faces], dirs, alpha=a.alpha)
    stats = [latent_stats(m, ds, n=a.n, pairs=min(500, a.n), keep_codes=True) for m in (ae, vae)]
    table = comparison_table(stats, ["AE", "VAE"])
    hue = next(c for c in label_columns(ds.labels or {}) if c.name == "hair_hue")
    plot_pca(stats, ["AE", "VAE"], hue, images / "latent_measure_pca.png")
    keep = [i for i, nm in enumerate(dirs.names) if nm in ROWS[:6]]
    sub = D.Directions(dirs.vectors[keep], [dirs.names[i] for i in keep], [dirs.info[i] for i in keep])
    grid, _ = D.direction_grid(vae, codes[-2:], sub)
    save_png(grid, images / "latent_measure_directions.png")
    out = {
        "machine": machine_line(),
        "smoke": a.smoke, "data": a.data, "n": int(len(idx)),
        "train_data": a.train_data, "alpha_in_projection_stds": a.alpha, "faces": a.faces,
        "vae_steps": vae.checkpoint_header.get("step"), "ae_steps": ae.checkpoint_header.get("step"),
        "probe": getattr(probe, "report", {}), "probe_cpu_s": None if a.smoke else round(probe_cpu, 1),
        "directions": [{k: r[k] for k in ("name", "probe_balanced_accuracy", "n_pos", "n_neg", "projection_std")}
                       for r in dirs.info],
        "effects": effects, "table": table,
        "stats": [{k: s[k] for k in ("family", "mean_std", "mean_norm", "norm_of_mean", "active_units", "latent_dim",
                                     "distances", "distances_relative")} | ({"kl_total": s["kl"]["kl_total"],
                                     "mean_posterior_std": s["kl"]["mean_posterior_std"]} if "kl" in s else {})
                  for s in stats],
        "wall_s": round(time.time() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
        "command": "python benchmarks/latent_measure.py " + " ".join(  # run folders outside the repo: placeholders
            {"--ae": "--ae AE_RUN", "--vae": "--vae VAE_RUN"}.get(x, x) for x in _public_args(argv)),
    }
    atomic_write_json(results / "latent_measure.json", out)
    print(markdown(effects, dirs.info, table))
    return out


if __name__ == "__main__":
    main()
