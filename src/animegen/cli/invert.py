"""``animegen invert``: find the latent codes whose generations match given images (GAN inversion)."""
from __future__ import annotations

from pathlib import Path

import typer

from animegen.cli.app import app

EXAMPLES = """[bold]Examples[/bold]

  animegen invert runs/dcgan-1 me.png friend.jpg --out inv/
  animegen invert runs/wgan-gp-1/final.safetensors data:faces64#12 --steps 400 --restarts 8 --out inv2/
  animegen interpolate runs/dcgan-1 --from codes:inv/codes.safetensors#0 \
      --to codes:inv/codes.safetensors#1 --out morph.gif

Writes DIR/codes.safetensors (one code per image, in argument order; other latent commands read row I as
codes:DIR/codes.safetensors#I), DIR/inversions.png (targets above their inversions) and DIR/invert.json
(per-image pixel MSE and feature distance, the same for random codes as a baseline, and the settings).
Images of another size or channel count are converted to the model's, with a note. AE/VAE checkpoints
work too: their first restart starts at the encoder's code."""


@app.command("invert", epilog=EXAMPLES)
def invert_command(
    checkpoint: Path = typer.Argument(..., help="A model checkpoint (.safetensors) or a run folder."),
    images: list[str] = typer.Argument(...,
                                       help="Image files, or dataset rows (data:SOURCE#I, synth:N#I, mnist:DIR#I)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created)."),
    steps: int = typer.Option(200, "--steps", min=1, help="Adam steps per restart (the fixed budget)."),
    restarts: int = typer.Option(4, "--restarts", min=1, help="Random starts per image; the best is kept."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random starts."),
    lr: float = typer.Option(0.05, "--lr", min=1e-6, help="Adam learning rate on the code."),
    feature_weight: float = typer.Option(1.0, "--feature-weight", min=0.0, help="Weight of the feature loss."),
    prior_weight: float = typer.Option(1e-3, "--prior-weight", min=0.0, help="Prior regulariser weight."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, mps or auto."),
) -> None:
    """Invert images into a model's latent space; prints the output folder."""
    import numpy as np
    import torch

    from animegen.checkpoint import load_model
    from animegen.cli.sample import resolve_checkpoint
    from animegen.fsutil import atomic_write_json, check_output
    from animegen.imaging import save_grid
    from animegen.latent.codes import image_input, input_label, model_input, save_codes
    from animegen.latent.invert import InvertConfig, invert, random_code_distances
    from animegen.progress import info
    from animegen.train.device import resolve_device

    cfg = InvertConfig(steps=steps, restarts=restarts, seed=seed, lr=lr, feature_weight=feature_weight,
                       prior_weight=prior_weight).validate()
    path = resolve_checkpoint(checkpoint)
    file_inputs = [path, *[Path(s) for s in images if Path(s).exists()]]
    check_output(out, file_inputs, kind="dir")
    targets = {name: out / name for name in ("codes.safetensors", "inversions.png", "invert.json")}
    for t in targets.values():
        check_output(t, file_inputs)
    model = load_model(path, map_location=str(resolve_device(device)))
    arrays, labels = [], []
    for spec in images:
        arrays.append(image_input(spec))
        labels.append(input_label(spec))
    parts = [model_input(a, model) for a in arrays]
    x = torch.cat([t for t, _ in parts])  # [K, C, H, W]
    notes = sorted({n for _, ns in parts for n in ns})
    for n in notes:
        info(f"note: {n}")
    res = invert(model, x, cfg)
    base_pix, base_feat = random_code_distances(model, x, seed=seed + 1)
    out.mkdir(parents=True, exist_ok=True)
    save_codes(targets["codes.safetensors"], res.z, labels,
               {"checkpoint": path.name, "family": model.family, "settings": res.settings})
    k = len(res)
    save_grid(torch.cat([x.cpu(), res.generated]), targets["inversions.png"], nrow=k,
              row_labels=["target", "inverted"], scale=2 if x.shape[-1] <= 32 else 1)
    report = {
        "checkpoint": str(path), "family": model.family, "latent_dim": model.latent_dim, "notes": notes,
        "settings": res.settings,
        "images": [{"label": lab, "row": i, "pixel_mse": float(res.pixel_mse[i]),
                    "feature_distance": float(res.feature_distance[i]), "loss": float(res.loss[i]),
                    "best_restart": int(res.best_restart[i]),
                    "restart_losses": [float(v) for v in res.restart_losses[:, i]]} for i, lab in enumerate(labels)],
        "mean": {"pixel_mse": float(np.mean(res.pixel_mse)), "feature_distance": float(np.nanmean(res.feature_distance))
                 if np.isfinite(res.feature_distance).any() else None},
        "random_codes": {"pixel_mse": float(np.mean(base_pix)),
                         "feature_distance": float(np.nanmean(base_feat)) if np.isfinite(base_feat).any() else None},
        "pixel_mse_scale": "[0, 1] images",
    }
    atomic_write_json(targets["invert.json"], report, mark=True)
    info(f"inverted {k} image(s): mean pixel MSE {report['mean']['pixel_mse']:.4f} "
         f"(random codes {report['random_codes']['pixel_mse']:.4f})")
    typer.echo(str(out))
