"""`animegen sample`: draw images from a trained model checkpoint."""
from __future__ import annotations

import math
from pathlib import Path

import typer

from animegen.cli.app import app
from animegen.runs import PREFERRED  # noqa: F401 (re-exported: the names a run folder stands for)
from animegen.runs import preferred_checkpoint as resolve_checkpoint  # noqa: F401 (imported by other commands)

EXAMPLES = """[bold]Examples[/bold]

  animegen sample runs/dcgan-1/final.safetensors --n 64 --out grid.png
  animegen sample runs/dcgan-1 --n 16 --seed 3 --truncation 1.5 --nrow 4
  animegen sample runs/vae-2/best.safetensors --n 100 --separate --out faces/
  animegen sample runs/vae-2 --prior fitted --out vae_fitted.png
  animegen sample runs/vae-2 --prior gmm --out vae_gmm.png
  animegen sample runs/vae-2 --observation --out vae_noisy.png

A run folder stands for its final.safetensors (else best, else last).
The same --seed gives the same images; --separate writes one PNG per image.
--out never replaces the checkpoint or a file animegen did not write (PNGs it wrote carry a marker).
--prior fitted decodes samples of a Gaussian fitted to the training codes (Ghosh et al. 2020): an AE
has no prior of its own, and a VAE with a small observation std keeps its codes wider than N(0, I).
--prior gmm decodes samples of the Gaussian mixture fitted to the training codes (VAE, VAE-GAN).
--prior stage2 maps N(0, I) through a second-stage VAE trained on the codes (Dai & Wipf 2019; runs
with model.prior_stage2 > 0).
--observation draws x ~ p(x|z) instead of its mean: Gaussian VAEs add the model's pixel noise σ·ε,
Bernoulli VAEs binarise every pixel (0/1 with the decoded probability)."""


@app.command("sample", epilog=EXAMPLES)
def sample_command(
    checkpoint: Path = typer.Argument(..., help="A model checkpoint (.safetensors) or a run folder."),
    n: int = typer.Option(64, "--n", "-n", min=1, help="Number of images."),
    seed: int = typer.Option(0, "--seed", help="Latent seed (same seed, same images)."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="Grid PNG (default samples.png), or a folder with --separate "
                                    "(default samples/)."),
    truncation: float | None = typer.Option(None, "--truncation", "-t", min=0.0,
                                            help="Resample latent entries above this magnitude "
                                            "(GAN truncation trick)."),
    prior: str = typer.Option("auto", "--prior", help="Latent distribution: 'standard' N(0, I); 'fitted' the Gaussian "
                              "fitted to the training codes (AE/VAE); 'gmm' the Gaussian mixture fitted to them "
                              "(VAE, VAE-GAN); 'stage2' through the second-stage VAE on them; 'auto' fitted for the "
                              "AE, standard otherwise."),
    observation: bool = typer.Option(False, "--observation", help="Sample x ~ p(x|z) rather than its mean "
                                     "(VAE: Gaussian pixel noise, or binarised Bernoulli pixels)."),
    separate: bool = typer.Option(False, "--separate", help="Write one PNG per image into the --out folder."),
    nrow: int | None = typer.Option(None, "--nrow", min=1, help="Images per grid row (default: square)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, mps or auto."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Images generated per forward pass."),
) -> None:
    """Sample images from a trained model; prints what it wrote."""
    import torch

    from animegen.checkpoint import load_model
    from animegen.errors import AnimegenError
    from animegen.fsutil import check_dir_output, check_output
    from animegen.imaging import save_grid, save_png, to_uint8
    from animegen.models.base import PRIORS
    from animegen.progress import progress
    from animegen.train.device import resolve_device

    if prior not in PRIORS:
        raise typer.BadParameter(f"{prior!r}; choose {', '.join(PRIORS)}", param_hint="--prior")
    if truncation is not None and not math.isfinite(truncation):
        raise typer.BadParameter(f"{truncation}; pass a finite number", param_hint="--truncation")
    path = resolve_checkpoint(checkpoint)
    # outputs are checked before any work: never over the checkpoint, never over a file we did not write
    if separate:
        folder = out or Path("samples")
        if folder.suffix.lower() == ".png":
            raise AnimegenError(f"--separate writes a folder of PNGs; pass a folder for --out, not {folder}")
        check_output(folder, [checkpoint, path], kind="dir")
        width = max(4, len(str(n - 1)))
        names = [f"{i:0{width}d}.png" for i in range(n)]
        check_dir_output(folder, names, fmt="png")
    else:
        target = check_output(out or Path("samples.png"), [checkpoint, path], kind="file", fmt="png")
    dev = resolve_device(device)
    model = load_model(path, map_location=str(dev))
    if observation and not hasattr(model, "observe"):
        from animegen.errors import AnimegenError

        raise AnimegenError(f"--observation needs a model with a pixel likelihood p(x|z) (a VAE); "
                            f"this checkpoint is a {model.family}")
    gen = torch.Generator().manual_seed(seed)
    chunks = []
    with torch.no_grad():
        for i in progress(range(0, n, batch_size), desc="sampling", unit="batch"):
            x = model.sample(min(batch_size, n - i), generator=gen, truncation=truncation, prior=prior)
            if observation:
                x = model.observe(x, generator=gen)  # x ~ p(x | z) instead of its mean
            chunks.append(x.float().cpu())
    images = torch.cat(chunks)  # [n, C, H, W] in [-1, 1]
    if separate:
        folder.mkdir(parents=True, exist_ok=True)
        arr = to_uint8(images)  # [n, H, W, C]
        for name, im in zip(names, arr, strict=True):
            save_png(im, folder / name)
        typer.echo(str(folder))
    else:
        save_grid(images, target, nrow=nrow, scale=2 if images.shape[-1] <= 32 else 1)
        typer.echo(str(target))
