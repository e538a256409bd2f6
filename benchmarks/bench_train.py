"""Training throughput: animegen's trainer step path vs a plain fp32 PyTorch loop of the same architecture.

For every registered family (or ``--families``), at 64 px and batch 64 by default, this measures images/s
of one training step through OUR step path — ``BatchLoader.next()`` (in-memory uint8 → float batch) +
``model.train_step(batch, TrainContext)`` (guarded ``ctx.optimize``: grad-norm, divergence check) +
EMA update — in four numeric modes:

    fp32            float32, contiguous (NCHW) tensors
    channels_last   float32, NHWC memory format for model and batches
    bf16            bf16 autocast (CPU: AVX512-BF16 / AMX)
    bf16+cl         bf16 autocast + channels_last

beside a plain fp32 loop written the pytorch/examples way (``zero_grad → loss.backward() → step`` on deep
copies of the same modules, a ``DataLoader`` over an in-memory ``TensorDataset``, no guard, no EMA).
All modes run in the same process, interleaved round by round (so a noisy neighbour slows every mode
alike); the median step time over rounds is reported, with the ratio to the plain loop, the share of
step time spent preparing batches, and resident memory (RSS after each mode; process peak).

Images are one WGAN iteration for wgan/wgan-gp (n_critic × batch real images per step) in both loops.

    python benchmarks/bench_train.py                      # full: 64 px, batch 64, all families (slow on CPU)
    python benchmarks/bench_train.py --families dcgan vae --rounds 5
    python benchmarks/bench_train.py --quick              # tiny smoke run: 32 px, batch 8, narrow nets

Results: ``benchmarks/results/train.json`` (``--quick``: ``train-quick.json``). Targets from the issue:
the best mode ≥ 1.7× the plain loop for DCGAN and ≥ 1.5× for the VAE.
"""
from __future__ import annotations

import argparse
import copy
import gc
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from animegen.config import from_dict
from animegen.fsutil import atomic_write_json
from animegen.models import MODELS, DataSpec
from animegen.train.context import TrainContext
from animegen.train.data import BatchLoader
from animegen.train.device import cpu_name
from animegen.train.ema import EMA

MODES = {"fp32": ("fp32", False), "channels_last": ("fp32", True), "bf16": ("bf16", False), "bf16+cl": ("bf16", True)}
TARGETS = {"dcgan": 1.7, "vae": 1.5}
# the architecture each family is measured at (the GUIDE's table: pytorch/examples DCGAN, conv VAE 32-64-128-256)
FULL_MODEL = {"dcgan": {"arch": "examples"}}
QUICK_MODEL = {
    "ae": {"widths": [8, 16, 32], "latent_dim": 16},
    "vae": {"widths": [8, 16, 32], "latent_dim": 16},
    "dcgan": {"arch": "examples", "g_width": 8, "d_width": 8},
    "wgan": {"g_width": 8, "d_width": 8, "n_critic": 2},
    "wgan-gp": {"g_width": 8, "d_width": 8, "n_critic": 2},
}


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux




# ----------------------------------------------------------------------------- our step path


class OurPath:
    """One training step exactly as animegen.train.Trainer runs it (minus logging/checkpoint cadence)."""

    def __init__(self, family, cfg, spec, images, batch, precision, channels_last, seed=0):
        torch.manual_seed(seed)
        model = MODELS[family](cfg, spec)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.train()
        self.model = model
        self.ctx = TrainContext(model.make_optimizers(), precision=precision)
        self.ema = EMA(model, model.ema_module, 0.999)
        bps = int(getattr(model, "batches_per_step", 1) or 1)
        self.images_per_step = batch * bps
        self.loader = BatchLoader(images, np.arange(len(images)), self.images_per_step, seed=seed, hflip=True,
                                  channels_last=channels_last)
        self.step_no = 0
        self.data_s = 0.0

    def step(self) -> None:
        t0 = time.perf_counter()
        batch = self.loader.next()  # [n_critic·B, C, H, W] in [-1, 1]
        self.data_s += time.perf_counter() - t0
        self.ctx.step = self.step_no
        self.model.train_step(batch, self.ctx)
        self.step_no += 1
        self.ema.update(self.model, self.step_no)


# ----------------------------------------------------------------------------- plain loops


class PlainLoop:
    """The pytorch/examples way: fp32, NCHW, DataLoader over a TensorDataset, hand-written losses."""

    def __init__(self, family, cfg, spec, images, batch, seed=0):
        torch.manual_seed(seed)
        ref = MODELS[family](cfg, spec)
        self.family, self.cfg = family, ref.config
        self.latent = ref.latent_dim
        bps = int(getattr(ref, "batches_per_step", 1) or 1)
        self.images_per_step = batch * bps
        data = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # uint8 [N, C, H, W]
        ds = torch.utils.data.TensorDataset(data)
        self.loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True)
        self.it = iter(self.loader)
        self.data_s = 0.0
        c = ref.config
        if family in ("ae", "vae"):
            self.enc, self.dec = copy.deepcopy(ref.encoder), copy.deepcopy(ref.decoder)
            params = list(self.enc.parameters()) + list(self.dec.parameters())
            self.opt = torch.optim.Adam(params, lr=c.lr, betas=tuple(c.betas))
            self.obs_var = float(getattr(c, "obs_std", 1.0)) ** 2
        elif family in ("dcgan", "wgan", "wgan-gp"):
            self.G, self.D = copy.deepcopy(ref.generator), copy.deepcopy(ref.discriminator)
            betas = tuple(getattr(c, "betas", (0.5, 0.999)))
            if getattr(c, "optimizer", "adam") == "rmsprop":
                self.opt_g = torch.optim.RMSprop(self.G.parameters(), lr=c.lr_g)
                self.opt_d = torch.optim.RMSprop(self.D.parameters(), lr=c.lr_d)
            else:
                self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=betas)
                self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=betas)
            self.n_critic = bps
        else:
            raise KeyError(family)
        del ref

    def batch(self) -> torch.Tensor:
        t0 = time.perf_counter()
        try:
            (x,) = next(self.it)
        except StopIteration:
            self.it = iter(self.loader)
            (x,) = next(self.it)
        x = x.float() / 127.5 - 1  # [B, C, H, W]
        self.data_s += time.perf_counter() - t0
        return x

    def step(self) -> None:
        f = self.family
        if f == "ae":
            x = self.batch()
            self.opt.zero_grad()
            loss = F.mse_loss(self.dec(self.enc(x)), x, reduction="sum") / x.shape[0]
            loss.backward()
            self.opt.step()
        elif f == "vae":
            x = self.batch()
            self.opt.zero_grad()
            mu, logvar = self.enc(x).chunk(2, dim=1)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            recon = F.mse_loss(self.dec(z), x, reduction="sum") / (2 * self.obs_var)
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())  # Kingma & Welling 2014, App. B
            ((recon + kl) / x.shape[0]).backward()
            self.opt.step()
        elif f == "dcgan":  # pytorch/examples dcgan/main.py, BCE on logits
            x = self.batch()
            b = x.shape[0]
            self.D.zero_grad()
            out = self.D(x).flatten()
            err_real = F.binary_cross_entropy_with_logits(out, torch.ones(b))
            err_real.backward()
            fake = self.G(torch.randn(b, self.latent))
            out = self.D(fake.detach()).flatten()
            err_fake = F.binary_cross_entropy_with_logits(out, torch.zeros(b))
            err_fake.backward()
            self.opt_d.step()
            self.G.zero_grad()
            out = self.D(fake).flatten()
            F.binary_cross_entropy_with_logits(out, torch.ones(b)).backward()
            self.opt_g.step()
        else:  # wgan / wgan-gp: n_critic critic updates then one generator update
            for _ in range(self.n_critic):
                x = self.batch()
                b = x.shape[0]
                self.D.zero_grad()
                with torch.no_grad():
                    fake = self.G(torch.randn(b, self.latent))
                loss_d = self.D(fake).mean() - self.D(x).mean()  # Arjovsky et al. 2017
                if f == "wgan-gp":  # Gulrajani et al. 2017, eq. 3
                    eps = torch.rand(b, 1, 1, 1)
                    mix = (eps * x + (1 - eps) * fake).requires_grad_(True)
                    (g,) = torch.autograd.grad(self.D(mix).sum(), mix, create_graph=True)
                    loss_d = loss_d + self.cfg.gp_weight * ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()
                loss_d.backward()
                self.opt_d.step()
                if f == "wgan":
                    with torch.no_grad():
                        for p in self.D.parameters():
                            p.clamp_(-self.cfg.clip_value, self.cfg.clip_value)
            self.G.zero_grad()
            (-self.D(self.G(torch.randn(b, self.latent))).mean()).backward()
            self.opt_g.step()


# ----------------------------------------------------------------------------- driver


def time_steps(runner, steps: int) -> tuple[float, float]:
    """(seconds per step, data seconds per step) over ``steps`` steps."""
    runner.data_s = 0.0
    t0 = time.perf_counter()
    for _ in range(steps):
        runner.step()
    dt = (time.perf_counter() - t0) / steps
    return dt, runner.data_s / steps


def bench_family(family: str, args, images: np.ndarray) -> dict:
    cls = MODELS[family]
    overrides = (QUICK_MODEL if args.quick else FULL_MODEL).get(family, {})
    cfg = from_dict(cls.config_cls, overrides, "model")
    spec = DataSpec(channels=3, size=args.size)
    runners: dict[str, object] = {}
    rss: dict[str, float] = {}
    modes = [m for m in MODES if m in args.modes]
    try:
        runners["plain_fp32"] = PlainLoop(family, cfg, spec, images, args.batch)
    except (KeyError, AttributeError) as exc:
        print(f"  {family}: no plain loop ({exc}); measuring animegen modes only", file=sys.stderr)
    for m in modes:
        precision, cl = MODES[m]
        runners[m] = OurPath(family, cfg, spec, images, args.batch, precision, cl)
    for name, r in runners.items():  # warm-up (oneDNN primitive creation, allocator)
        for _ in range(args.warmup):
            r.step()
        rss[name] = rss_mb()
    times: dict[str, list[float]] = {k: [] for k in runners}
    data: dict[str, list[float]] = {k: [] for k in runners}
    for rnd in range(args.rounds):
        order = list(runners) if rnd % 2 == 0 else list(runners)[::-1]  # interleaved, alternating order
        for name in order:
            dt, ds = time_steps(runners[name], args.steps)
            times[name].append(dt)
            data[name].append(ds)
            rss[name] = max(rss[name], rss_mb())
    imgs = next(iter(runners.values())).images_per_step
    out: dict[str, dict] = {}
    for name in runners:
        med = statistics.median(times[name])
        out[name] = {"img_per_s": round(imgs / med, 2), "step_ms": round(1000 * med, 2),
                     "data_share": round(statistics.median(data[name]) / med, 5),
                     "rss_mb": round(rss[name], 1), "rounds_ms": [round(1000 * t, 2) for t in times[name]]}
    res: dict = {"images_per_step": imgs, "model_overrides": overrides,
                 "params": sum(p.numel() for p in runners[modes[0]].model.parameters()) if modes else None,
                 "modes": out}
    if "plain_fp32" in out:
        base = out["plain_fp32"]["img_per_s"]
        for name in modes:
            out[name]["ratio_vs_plain"] = round(out[name]["img_per_s"] / base, 3)
        best = max(modes, key=lambda m: out[m]["img_per_s"]) if modes else None
        res["best_mode"] = best
        res["best_ratio_vs_plain"] = out[best]["ratio_vs_plain"] if best else None
        if family in TARGETS and best:
            res["target_ratio"] = TARGETS[family]
            res["meets_target"] = res["best_ratio_vs_plain"] >= TARGETS[family]
    del runners
    gc.collect()
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", nargs="*", default=None, help="default: every registered family")
    p.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="timed steps per mode per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--images", type=int, default=1024, help="random uint8 images held in memory")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--quick", action="store_true", help="tiny smoke run: 32 px, batch 8, narrow nets, 1 round")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--smoke", action="store_true",
                   help="seconds-long check that the script runs (--quick, one family, fp32 only); needs --out")
    args = p.parse_args(argv)
    if args.smoke:
        if args.out is None:
            p.error("--smoke needs --out PATH (smoke numbers never go to benchmarks/results/)")
        args.quick, args.modes, args.families = True, ["fp32"], args.families or ["ae"]
    if args.quick:
        args.size, args.batch, args.steps, args.rounds, args.warmup, args.images = 32, 8, 1, 1, 1, 64
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    families = args.families or sorted(MODELS)
    unknown = [f for f in families if f not in MODELS]
    if unknown:
        p.error(f"unknown families {unknown}; registered: {sorted(MODELS)}")
    images = np.random.default_rng(0).integers(0, 256, (args.images, args.size, args.size, 3), dtype=np.uint8)
    from animegen.train.device import cpu_has_bf16

    report = {
        "benchmark": "train",
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cpu_bf16": cpu_has_bf16(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "results": {},
    }
    for fam in families:
        print(f"{fam} ...", file=sys.stderr, flush=True)
        r = bench_family(fam, args, images)
        report["results"][fam] = r
        line = ", ".join(
            f"{m} {v['img_per_s']:.1f} img/s" + (f" ({v['ratio_vs_plain']:.2f}×)" if "ratio_vs_plain" in v else "")
            for m, v in r["modes"].items()
        )
        print(f"  {fam}: {line}", file=sys.stderr, flush=True)
    report["peak_rss_mb"] = round(peak_rss_mb(), 1)
    out = args.out or Path(__file__).resolve().parent / "results" / ("train-quick.json" if args.quick else "train.json")
    atomic_write_json(out, report)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
