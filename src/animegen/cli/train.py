"""`animegen train`: train a model family on a data source, or resume a run folder."""
from __future__ import annotations

import os
from pathlib import Path

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen train --model vae --data synth:20000 --set train.max_minutes=10
  animegen train --config configs/gan-recommended.toml --data faces/
  animegen train --model ae --data synth:256 --dry-run
  animegen train --resume runs/vae-3 --set train.steps=20000
  animegen train --resume runs/vae-3 --export-only --set train.prior_fit_codes=0
  animegen train -c configs/gan-recommended.toml -d faces/ -s train.eval_kid=true
  torchrun --nproc_per_node 2 -m animegen train --model dcgan --data faces/

--dry-run is a 2-step smoke test of the whole pipeline. --resume continues a
run folder exactly where it stopped (Ctrl-C saves a resumable checkpoint).
The run folder <out>/<name>-<n>/ gets config.json, metrics.jsonl (+ tb/),
samples/, recon/, step-*, last, best, final and train_state .safetensors, and
report.html (animegen report; skip with --no-report).
train.eval_kid=true adds a quick KID/FID (train.eval_kid_n samples, default
256) against the validation half of the held-out faces at every
train.eval_every step to metrics.jsonl (quality/kid, quality/fid, quality/cpu_fraction); for
GANs best.safetensors is then the lowest KID (train.best_by: auto, kid, fid,
loss, none). Evaluations that would take over train.eval_kid_max_fraction
(default 0.05) of the CPU time are skipped.
train.lr_decay=F lowers every learning rate linearly over the last share F of
the run, down to train.lr_decay_to (default 0) times its value; the run ends at
train.steps or at this invocation's max_minutes / max_cpu_minutes. A run stopped
before its time budget ran out (Ctrl-C, a crash, a kill) and resumed without
--set train.max_minutes / max_cpu_minutes finishes that budget and its decay;
with a new one it trains for that long, with a fresh decay.
VAE / VAE-GAN: the mixture and second-stage priors are fitted in final, best
and the Ctrl-C export, to train.prior_fit_codes codes (default 24576: the
training images and, with data.hflip, their mirror images; 0 = all); this
takes minutes of CPU on ten thousand faces. train.export_priors=always fits
them at every export too. --resume RUN --export-only writes final.safetensors
again from the saved state, priors fitted by this version with the given
settings (best's refitted too), without training; the state is left as it was."""


@app.command("train", epilog=EXAMPLES)
def train_command(
    model: str | None = typer.Option(None, "--model", "-m",
                                     help="Model family: ae, vae, vaegan, dcgan, wgan, wgan-gp."),
    data: str | None = typer.Option(None, "--data", "-d",
                                    help="DATASET folder, image folder/zip/tar, synth:N, mnist:DIR or hf:NAME."),
    config: Path | None = typer.Option(None, "--config", "-c", help="A TOML recipe (configs/*.toml)."),
    overrides: list[str] = typer.Option([], "--set", "-s", help="Override a setting: section.key=value (repeatable)."),
    out: Path = typer.Option(Path("runs"), "--out", "-o", help="Folder that receives the run folder."),
    name: str | None = typer.Option(None, "--name",
                                    help="Run folder prefix (default: the recipe's name or the family)."),
    resume: Path | None = typer.Option(None, "--resume", help="Continue this run folder from its last checkpoint."),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="2 steps on at most 64 images: a smoke test of the whole pipeline."),
    no_report: bool = typer.Option(False, "--no-report", help="Skip writing RUN/report.html at the end."),
    export_only: bool = typer.Option(False, "--export-only",
                                     help="With --resume: export the saved state as final.safetensors (latent "
                                          "priors refitted with these settings) without training."),
) -> None:
    """Train a generative model; prints the run folder."""
    from animegen.config import apply_overrides, override_keys, resolve_run_config
    from animegen.errors import ConfigError
    from animegen.fsutil import check_output
    from animegen.train import load_run_config, train

    if resume is not None:
        if model or config or name:
            raise ConfigError("--resume continues a run with its own config.json; drop --model/--config/--name "
                              "(change settings with --set, e.g. --set train.steps=20000)")
        cfg = load_run_config(resume)
        if data:
            cfg.data.source = data
        apply_overrides(cfg, list(overrides))
        keys = override_keys(list(overrides))
        if "train.steps" in keys and "train.epochs" not in keys:
            cfg.train.epochs = 0.0  # a run trained by epochs, extended by steps: the new step target wins
    else:
        check_output(out, kind="dir")  # before any data is prepared
        if not model and not config:
            raise ConfigError("say what to train: --model ae|vae|dcgan|wgan|wgan-gp, or --config RECIPE.toml")
        cfg = resolve_run_config(model, config, list(overrides), data)
        if name:
            cfg.name = name
    if resume is None:  # the runs root: a folder (never a file), not the data source nor one holding it
        check_output(out, [cfg.data.source], kind="dir")
    fresh_budget = bool({"train.max_minutes", "train.max_cpu_minutes"} & override_keys(list(overrides)))
    run_dir = train(cfg, out, resume=resume, dry_run=dry_run, fresh_budget=fresh_budget, export_only=export_only)
    if int(os.environ.get("RANK", "0") or 0) == 0:  # under torchrun every rank returns here; one line is enough
        if not no_report:
            _write_report(run_dir)
        typer.echo(str(run_dir))


def _write_report(run_dir: Path) -> None:
    """RUN/report.html; the trained run is already safe on disk, so a failure here is only a warning."""
    from animegen.progress import info

    try:
        from animegen.report import write_report

        info(f"report: {write_report(run_dir)}")
    except Exception as exc:  # never fail (or lose) a finished run over its report
        info(f"warning: could not write the report ({type(exc).__name__}: {exc}); "
             f"retry with: animegen report {run_dir}")
