"""`animegen report` on tiny real runs: every section present and filled, every image decodes, numbers finite,
nothing fetched from the network; comparisons; the CLI and the report written at the end of `animegen train`."""
from __future__ import annotations

import json

import pytest
from html_checks import (
    assert_numbers_finite,
    assert_sections_filled,
    assert_self_contained,
    decoded_images,
    section_ids,
)

from animegen.cli.main import main
from animegen.config import apply_overrides, resolve_run_config
from animegen.report import build_report, write_comparison, write_report
from animegen.report.rundata import RunData
from animegen.train import train

RUN_SECTIONS = ["samples", "loss-curves", "training-health", "samples-over-training", "reconstructions",
                "latent-interpolation", "blend", "perturbation", "latent-statistics", "metrics", "run-facts", "config"]
TINY = ["data.size=32", "train.steps=6", "train.batch_size=8", "train.threads=1", "train.log_every=2",
        "train.sample_every=2", "train.eval_every=2", "train.checkpoint_every=6", "train.ema_decay=0"]


def _tiny_run(root, family: str):
    cfg = resolve_run_config(family, None, [], "synth:64")
    return train(apply_overrides(cfg, TINY), root)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {"vae": _tiny_run(root, "vae"), "dcgan": _tiny_run(root, "dcgan")}


def test_vae_report_has_every_section_and_valid_content(runs):
    page = write_report(runs["vae"])
    assert page == runs["vae"] / "report.html"
    text = page.read_text(encoding="utf-8")
    assert section_ids(text) == RUN_SECTIONS
    assert_sections_filled(text)
    assert_self_contained(text)
    images = decoded_images(text)
    # fitted prior + N(0, I) samples, curves, health, grids over training, reconstructions, the GIF,
    # the blend row, random and PCA perturbation grids
    assert len(images) == 10
    gif = [im for im in images if im.format == "GIF"]
    assert len(gif) == 1 and gif[0].n_frames == 4 * 16  # four latents, 16 frames between each pair
    assert assert_numbers_finite(text) >= 10
    assert "from the Gaussian fitted to the training codes" in text.split("N(0, I)")[0]  # best samples first


def test_gan_report_skips_what_does_not_apply(runs):
    text = build_report(runs["dcgan"]).render()
    ids = section_ids(text)
    assert "reconstructions" not in ids  # no encoder
    assert ids[0] == "samples" and "loss-curves" in ids and "latent-interpolation" in ids
    assert "blend" in ids and "perturbation" in ids  # from prior samples; GANSpace axes
    assert "latent-statistics" not in ids  # no encoder: no codes of data
    assert_sections_filled(text)
    decoded_images(text)
    assert "loss_d" in text and "loss_g" in text


def test_metrics_json_from_evaluate_is_shown(runs, tmp_path):
    run = RunData.load(runs["vae"])
    run.evaluation = {"fid": 123.456, "kid": 0.0789, "precision": 0.25, "protocol": {"n_generated": 50}}
    text = build_report(run).render()
    metrics = text.split("<section id='metrics'>")[1].split("</section>")[0]
    assert "FID" in metrics and "123.5" in metrics and "0.0789" in metrics and "N generated" in metrics
    assert "No metrics.json yet" in build_report(runs["vae"]).render()


def test_a_failing_section_becomes_a_note(runs):
    def broken(run):
        raise RuntimeError("boom")

    text = build_report(runs["vae"], section_fns=[broken, lambda r: None]).render()
    assert section_ids(text) == ["failed-broken"] and "RuntimeError: boom" in text


def test_comparison_overlays_runs(runs, tmp_path):
    page = write_comparison([runs["vae"], runs["dcgan"]], tmp_path / "cmp.html")
    text = page.read_text(encoding="utf-8")
    assert section_ids(text) == ["latest-samples", "loss-curves", "training-health", "metrics"]
    assert_sections_filled(text)
    assert_self_contained(text)
    assert len(decoded_images(text)) == 2 + 1 + 1  # a grid per run, curves, health
    table = text.split("<section id='metrics'>")[1]
    assert runs["vae"].name in table and runs["dcgan"].name in table


def test_cli_report_one_run_and_several(runs, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", str(runs["dcgan"])])
    assert exc.value.code == 0
    assert (runs["dcgan"] / "report.html").is_file()
    with pytest.raises(SystemExit) as exc:
        main(["report", str(runs["vae"]), str(runs["dcgan"])])
    assert exc.value.code == 0
    assert (runs["vae"].parent / "compare.html").is_file()


@pytest.mark.parametrize("args, message", [
    (["{tmp}/nowhere"], "is not a folder"),
    (["{tmp}"], "not an animegen run folder"),
    (["{vae}", "--out", "{vae}/config.json"], "ending in .html"),
    (["{vae}", "--out", "{vae}/samples"], "ending in .html"),
    (["{vae}", "--out", "{tmp}/folder.html"], "is a folder"),
    (["{vae}", "{vae}"], "given twice"),
])
def test_cli_report_mistakes_are_one_line(runs, tmp_path, capsys, args, message):
    (tmp_path / "folder.html").mkdir()
    argv = ["report"] + [a.format(tmp=tmp_path, vae=runs["vae"]) for a in args]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 1 and len(err) == 1 and err[0].startswith("error:") and message in err[0]


def test_train_writes_the_report_unless_told_not_to(tmp_path, capsys):
    base = ["-q", "train", "--model", "ae", "--data", "synth:32", "--dry-run", "--set", "data.size=32",
            "--set", "train.threads=1"]
    with pytest.raises(SystemExit) as exc:
        main(base + ["--out", str(tmp_path / "a")])
    assert exc.value.code == 0
    run = next((tmp_path / "a").iterdir())
    assert (run / "report.html").is_file()
    with pytest.raises(SystemExit) as exc:
        main(base + ["--out", str(tmp_path / "b"), "--no-report"])
    assert exc.value.code == 0
    assert not (next((tmp_path / "b").iterdir()) / "report.html").exists()


def test_a_report_failure_never_fails_training(tmp_path, capsys, monkeypatch):
    import animegen.report

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(animegen.report, "write_report", broken)
    with pytest.raises(SystemExit) as exc:
        main(["train", "--model", "ae", "--data", "synth:32", "--dry-run", "--set", "data.size=32",
              "--set", "train.threads=1", "--out", str(tmp_path)])
    out = capsys.readouterr()
    run = next(tmp_path.iterdir())
    assert exc.value.code == 0 and (run / "final.safetensors").is_file()
    warn = [line for line in out.err.splitlines() if "could not write the report" in line]
    assert len(warn) == 1 and "disk full" in warn[0] and f"animegen report {run}" in warn[0]
    assert out.out.strip() == str(run)
    json.loads((run / "config.json").read_text())


def test_report_describes_the_checkpoint_every_command_uses(tmp_path):
    """A run with no final: the report reads best, as `sample`/`evaluate` do (runs.PREFERRED), not last."""
    from animegen.runs import BEST, LAST, preferred_checkpoint

    run = tmp_path / "run"
    run.mkdir()
    for name in (LAST, BEST):
        (run / name).write_bytes(b"x")
    data = RunData(path=run, config={}, records=[])
    assert data.checkpoint == preferred_checkpoint(run) == run / BEST
