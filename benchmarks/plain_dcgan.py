"""The plain baseline: pytorch/examples ``dcgan/main.py`` as people copy it, minus torchvision.

Same networks (ngf = ndf = 64, nz = 100, ConvTranspose k4 s2 p1, BN, no biases, N(0, 0.02) init), same loss
(BCELoss on a Sigmoid output), same optimizers (Adam 2e-4, β = (0.5, 0.999)), same loop (one D step on
real + fake, one G step, batch 64), fp32, a shuffled DataLoader over an in-memory tensor — nothing tuned.
It is used as the reference in BENCHMARKS.md (training speed ratio and the FID-at-a-budget comparison).

    python benchmarks/plain_dcgan.py --data DATASET --cpu-minutes 30 --threads 1 --out OUT
writes OUT/generator.safetensors, OUT/samples.npy (uint8 [N, 64, 64, 3]), OUT/grid.png, OUT/summary.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

nz, ngf, ndf, nc = 100, 64, 64, 3


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),  # [B, 512, 4, 4]
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),  # 8x8
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),  # 16x16
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),  # 32x32
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )  # [B, 3, 64, 64]

    def forward(self, z):
        return self.main(z)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),  # [B, 64, 32, 32]
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )  # [B, 1, 1, 1]

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def weights_init(m):
    name = m.__class__.__name__
    if name.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif name.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def train_step(netG, netD, optG, optD, criterion, real, device="cpu"):
    """One pytorch/examples iteration: (1) update D on real and fake, (2) update G. Returns (errD, errG)."""
    b = real.size(0)
    netD.zero_grad()
    label = torch.full((b,), 1.0, device=device)
    errD_real = criterion(netD(real), label)
    errD_real.backward()
    fake = netG(torch.randn(b, nz, 1, 1, device=device))
    label.fill_(0.0)
    errD_fake = criterion(netD(fake.detach()), label)
    errD_fake.backward()
    optD.step()
    netG.zero_grad()
    label.fill_(1.0)
    errG = criterion(netD(fake), label)
    errG.backward()
    optG.step()
    return (errD_real + errD_fake).item(), errG.item()


def load_train_images(dataset: str) -> torch.Tensor:
    """The training split of a prepared animegen dataset as a float tensor [N, 3, 64, 64] in [-1, 1]."""
    from animegen.data.sources import open_source

    ds = open_source(dataset, size=64, channels=3)
    keep = ~ds.val_mask if ds.val_mask is not None else np.ones(len(ds), bool)
    x = torch.from_numpy(np.ascontiguousarray(ds.images[keep])).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="prepared dataset (its val split is held out) or synth:N")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cpu-minutes", type=float, default=30.0, help="process CPU-time budget (all threads)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-samples", type=int, default=2000)
    ap.add_argument("--smoke", action="store_true", help="seconds-long check that the script runs (a CPU-second "
                    "budget, 8 samples)")
    args = ap.parse_args()
    if args.smoke:
        args.cpu_minutes, args.n_samples = min(args.cpu_minutes, 0.01), 8

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = torch.utils.data.TensorDataset(load_train_images(args.data))
    loader = torch.utils.data.DataLoader(data, batch_size=64, shuffle=True, num_workers=0)
    netG, netD = Generator(), Discriminator()
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=0.0002, betas=(0.5, 0.999))

    cpu0, wall0, steps, images = time.process_time(), time.perf_counter(), 0, 0
    log = open(out / "log.jsonl", "w")
    budget = args.cpu_minutes * 60
    while time.process_time() - cpu0 < budget:
        for (real,) in loader:
            errD, errG = train_step(netG, netD, optG, optD, criterion, real)
            steps += 1
            images += real.size(0)
            if steps % 50 == 0:
                log.write(
                    json.dumps(
                        {"step": steps, "errD": errD, "errG": errG, "cpu_s": round(time.process_time() - cpu0, 1)}
                    )
                    + "\n"
                )
                log.flush()
            if time.process_time() - cpu0 >= budget:
                break
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0

    from safetensors.torch import save_file

    from animegen.imaging import save_grid, to_uint8

    save_file({k: v.contiguous() for k, v in netG.state_dict().items()}, str(out / "generator.safetensors"))
    netG.eval()
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        fake = torch.cat(
            [
                netG(torch.randn(min(250, args.n_samples - i), nz, 1, 1, generator=gen))
                for i in range(0, args.n_samples, 250)
            ]
        )  # [N, 3, 64, 64]
    np.save(out / "samples.npy", to_uint8(fake))
    save_grid(fake[:64], out / "grid.png", nrow=8)
    summary = {
        "what": "pytorch/examples DCGAN, fp32",
        "steps": steps,
        "images_seen": images,
        "train_images": len(data),
        "cpu_seconds": round(cpu_s, 1),
        "wall_seconds": round(wall_s, 1),
        "threads": args.threads,
        "img_per_cpu_s": round(images / cpu_s, 2),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
