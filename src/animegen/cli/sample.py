"""`animegen sample`: draw images from a trained model checkpoint."""
from __future__ import annotations

from pathlib import Path

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen sample runs/dcgan-1/final.safetensors --n 64 --out grid.png
  animegen sample runs/dcgan-1 --n 16 --seed 3 --truncation 1.5 --nrow 4
  animegen sample runs/vae-2/best.safetensors --n 100 --separate --out faces/
  animegen sample runs/vae-2 --prior fitted --out vae_fitted.png
  animegen sample runs/vae-2 --prior gmm --out vae_gmm.png
  animegen sample runs/vae-2 --observation --out vae_noisy.png

A run folder stands for its final.safetensors (else best, else last).
The same --seed gives the same images; --separate writes one PNG per image.
--prior fitted decodes samples of a Gaussian fitted to the training codes (Ghosh et al. 2020): an AE
has no prior of its own, and a VAE with a small observation std keeps its codes wider than N(0, I).
--prior gmm decodes samples of the Gaussian mixture fitted to the training codes (VAE, VAE-GAN).
--observation draws x ~ p(x|z) instead of its mean: Gaussian VAEs add the model's pixel noise σ·ε,
Bernoulli VAEs binarise every pixel (0/1 with the decoded probability)."""

PREFERRED = ("final.safetensors", "best.safetensors", "last.safetensors")


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint file, or the preferred checkpoint of a run folder."""
    from animegen.errors import CheckpointError

    if path.is_dir():
        for name in PREFERRED:
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path}: no final/best/last.safetensors in this folder; pass a checkpoint file")
    return path


@app.command("sample", epilog=EXAMPLES)
def sample_command(
    checkpoint: Path = typer.Argument(..., help="A model checkpoint (.safetensors) or a run folder."),
    n: int = typer.Option(64, "--n", "-n", min=1, help="Number of images."),
    seed: int = typer.Option(0, "--seed", help="Latent seed (same seed, same images)."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                       help="Grid PNG (default samples.png), or a folder with --separate (default samples/)."),
    truncation: float | None = typer.Option(None, "--truncation", "-t", min=0.0,
                                               help="Resample latent entries above this magnitude (GAN truncation trick)."),
    prior: str = typer.Option("auto", "--prior", help="Latent distribution: 'standard' N(0, I); 'fitted' the Gaussian "
                              "fitted to the training codes (AE/VAE); 'gmm' the Gaussian mixture fitted to them "
                              "(VAE, VAE-GAN); 'auto' fitted for the AE, standard otherwise."),
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
    from animegen.imaging import save_grid, save_png, to_uint8
    from animegen.models.base import PRIORS
    from animegen.progress import progress
    from animegen.train.device import resolve_device

    if prior not in PRIORS:
        raise typer.BadParameter(f"{prior!r}; choose {', '.join(PRIORS)}", param_hint="--prior")
    path = resolve_checkpoint(checkpoint)
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
        folder = out or Path("samples")
        if folder.suffix.lower() == ".png":
            from animegen.errors import AnimegenError

            raise AnimegenError(f"--separate writes a folder of PNGs; pass a folder for --out, not {folder}")
        folder.mkdir(parents=True, exist_ok=True)
        arr = to_uint8(images)  # [n, H, W, C]
        width = max(4, len(str(n - 1)))
        for i, im in enumerate(arr):
            save_png(im, folder / f"{i:0{width}d}.png")
        typer.echo(str(folder))
    else:
        target = out or Path("samples.png")
        save_grid(images, target, nrow=nrow, scale=2 if images.shape[-1] <= 32 else 1)
        typer.echo(str(target))
