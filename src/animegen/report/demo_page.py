"""The page ``animegen demo`` writes (``out/index.html``): the best pictures first, then how each run trained.

It reuses the run-report section functions (:mod:`animegen.report.sections`, :mod:`.latent_sections`) for each
run's blend row, perturbations, latent statistics, curves, health, grids over training, metrics and facts, titled
with the run's model.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from animegen.report import latent_sections as L
from animegen.report import sections as S
from animegen.report.html import Page, Section
from animegen.report.run_report import REPORT_FILE, SectionFn, run_sections
from animegen.report.rundata import RunData

RUN_SECTIONS: list[SectionFn] = [L.blend_row, L.perturbation, L.latent_statistics, S.loss_curves, S.health,
                                 S.over_training, S.metrics, S.facts]
LABELS = {"vae": "VAE", "ae": "AE", "dcgan": "GAN", "wgan": "WGAN", "wgan-gp": "WGAN-GP"}


@dataclass
class DemoResult:
    out: Path
    runs: list[RunData]
    minutes: float
    n: int
    size: int
    seed: int
    data: str | None
    seconds: float


def _best(res: DemoResult) -> Section:
    sec = Section("Best samples", key="best-samples")
    sec.image(res.out / "samples_fitted.png", "VAE: 64 faces decoded from the Gaussian fitted to the codes of the "
              "training faces (Ghosh et al. 2020; animegen sample --prior fitted)")
    if (res.out / "gan_samples.png").is_file():
        sec.image(res.out / "gan_samples.png", "GAN (DCGAN, fast preset): 64 samples of the EMA generator "
                                               "(Radford et al. 2016)")
    return sec


def _prefixed(run: RunData) -> list[Section]:
    label = LABELS.get(run.family, run.family)
    secs = run_sections(run, RUN_SECTIONS)
    for sec in secs:
        sec.title = f"{label}: {sec.title}"
        sec.key = f"{run.name}-{sec.key}"
    return secs


def write_demo_page(res: DemoResult) -> Path:
    what = "your images" if res.data else f"{res.n} procedural faces"
    models = " and a ".join(LABELS.get(r.family, r.family) for r in res.runs)
    page = Page("animegen demo", f"a {models} trained on {what} ({res.size}px, seed {res.seed}) within "
                                 f"{res.minutes:g} minutes of training; whole demo {res.seconds:.0f} s")
    page.add(_best(res))
    page.add(Section("Reconstructions").image(res.out / "reconstructions.png", "VAE: real faces (Real) over their "
                                                                              "reconstructions (Guess)"))
    walk = "VAE: walking straight lines between the codes of four real faces"
    page.add(Section("Latent interpolation").image(res.out / "interpolation.gif", walk, width=max(192, res.size * 2)))
    page.add(Section("Training faces").image(res.out / "training_faces.png", f"32 of the {res.n} training images"))
    page.add(Section("Samples from N(0, I)", key="standard-prior").image(
        res.out / "samples.png", "the same VAE decoding z ~ N(0, I), the prior its training pulls the codes towards "
        "(the KL and an MMD term); after minutes of training the codes still sit only roughly there, so these are "
        "blurrier than the fitted prior's faces above, which samples where the codes are"))
    for run in res.runs:
        for sec in _prefixed(run):
            page.add(sec)
    cmd = ["animegen", "demo", "--out", str(res.out), "--minutes", f"{res.minutes:g}", "--size", str(res.size),
           "--seed", str(res.seed)] + (["--data", res.data] if res.data else ["--n", str(res.n)])
    repro = Section("Reproduce").code(" ".join(shlex.quote(c) for c in cmd))
    repro.table(["run", "full report", "model"], [[r.name, str(r.path / REPORT_FILE), str(r.checkpoint)]
                                                   for r in res.runs])
    page.add(repro)
    return page.write(res.out / "index.html")
