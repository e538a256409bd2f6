"""What a run writes besides metrics: sample and reconstruction grids, exported model checkpoints."""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor

from animegen.checkpoint import save_model
from animegen.imaging import save_grid

STEP_CKPT = re.compile(r"^step-(\d+)\.safetensors$")


def step_name(step: int, ext: str) -> str:
    return f"step-{step:06d}.{ext}"


@torch.no_grad()
def generate(model, z: Tensor, batch_size: int = 64) -> Tensor:
    """``model.decode`` of fixed latents in eval mode, fp32, clamped to [-1, 1]: ``[N, C, H, W]`` on CPU."""
    was = model.training
    model.eval()
    try:
        out = [model.decode(z[i:i + batch_size]).float().clamp(-1, 1).cpu() for i in range(0, len(z), batch_size)]
    finally:
        model.train(was)
    return torch.cat(out)


@torch.no_grad()
def reconstruct(model, x: Tensor) -> Tensor:
    was = model.training
    model.eval()
    try:
        return model.reconstruct(x).float().clamp(-1, 1).cpu()
    finally:
        model.train(was)


def save_sample_grid(images: Tensor, path: Path) -> None:
    n = images.shape[0]
    save_grid(images, path, nrow=max(1, int(round(n ** 0.5))), scale=2 if images.shape[-1] <= 32 else 1)


def save_recon_grid(real: Tensor, recon: Tensor, path: Path) -> None:
    """Real images in the top row, reconstructions ("Guess") below, labelled like the MNIST VAE tutorial."""
    save_grid(torch.cat([real.float().cpu(), recon.float().cpu()]), path, nrow=real.shape[0],
              row_labels=["Real", "Guess"], scale=2 if real.shape[-1] <= 32 else 1)


def export_checkpoint(path: Path, model, state_dict: dict[str, Tensor], step: int, epoch: int, extra: dict) -> Path:
    return save_model(path, model, step=step, epoch=epoch, state_dict=state_dict, extra=extra)


def rotate_step_checkpoints(run_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` ``step-*.safetensors`` (``keep`` ≤ 0 keeps all)."""
    if keep <= 0:
        return []
    found = sorted((int(m.group(1)), p) for p in run_dir.iterdir() if (m := STEP_CKPT.match(p.name)))
    removed = []
    for _, p in found[:-keep]:
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def remove_stale_temp_files(run_dir: Path) -> None:
    """Temporary files of atomic writes interrupted by SIGKILL (``.name.xxxx.tmp``)."""
    for p in list(run_dir.glob(".*.tmp")) + list(run_dir.glob("*/.*.tmp")):
        p.unlink(missing_ok=True)
