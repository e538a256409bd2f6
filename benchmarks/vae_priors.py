"""Score trained VAE / VAE-GAN runs on the real 64 px faces: FID per latent prior, held-out reconstruction MSE,
KL per image, active units and code spread, plus a sample grid per prior.

Train first (1 thread, a process-CPU budget; the prepared faces and held-out split of ``fid_budget.py``)::

    python -m animegen prepare FACES.tar --size 64 --crop none --val-fraction 0.154 --seed 0 --out WORK/faces64
    OMP_NUM_THREADS=1 python -m animegen -q train --config configs/vae-faces.toml --data WORK/faces64 \\
        --out WORK/runs --name sigma10 --set train.threads=1 --set train.max_cpu_minutes=10 \\
        --set train.max_minutes=0 --set train.steps=10000000

then score (``--run LABEL=RUN_DIR`` repeats; ``--priors`` are the ``sample --prior`` choices)::

    OMP_NUM_THREADS=1 python benchmarks/vae_priors.py --data WORK/faces64 --run sigma10=WORK/runs/sigma10-1 \\
        --priors standard,fitted,gmm --n 2000

Writes ``docs/images/<label>_<prior>.png`` (64 samples, seed 0), ``docs/images/<label>_recon.png`` (held-out faces
over their reconstructions) and ``benchmarks/results/vae_priors_<label>_<priors>.json``. A checkpoint without a fitted
mixture (written before ``prior="gmm"`` existed, or a periodic export) gets one fitted here on ≤ 4,096 training
images (what the trainer's exports used before ``train.prior_fit_codes``); ``--gmm-components 16 32 64`` also scores
mixtures of those sizes fitted there (grids and scores named ``gmm16``…; ``--fit-images 0 --fit-flips`` fits them to
all training images and their mirror images, as the trainer's full exports now do on a face set of this size);
``--truncation 1.5 1`` also scores every prior with its standard-normal ε truncated at those values
(``sample --truncation``; names ``gmm_t1.5``…). Metrics:

* ``heldout_mse_per_pixel``: mean squared error of the posterior-mean reconstruction, [-1, 1] pixels, all held-out;
* ``kl_per_image``: KL(q(z|x) || N(0, I)) in nats, held-out mean (Kingma & Welling 2014, App. B);
* ``active_units``: latent dimensions whose posterior mean varies across held-out images, Cov_x(E_q[z_j]) > 0.01
  (Burda et al. 2016, §5.2);
* ``code_std_per_dim_mean``: mean over dimensions of the std of the training codes (1 for codes shaped like N(0, I)).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIT_IMAGES = 4096  # as the trainer's exports before train.prior_fit_codes (its periodic exports still)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the prepared faces the runs trained on (with its held-out split)")
    ap.add_argument("--run", action="append", required=True, help="LABEL=RUN_DIR (repeatable)")
    ap.add_argument("--priors", default="standard,fitted,gmm")
    ap.add_argument("--n", type=int, default=2000, help="generated samples per prior for FID (0: skip FID)")
    ap.add_argument("--n-real", type=int, default=0, help="held-out faces as the FID reference (0: all of them)")
    ap.add_argument("--checkpoint", default="final.safetensors",
                    help="checkpoint name in each run folder (last.safetensors for a run stopped with Ctrl-C)")
    ap.add_argument("--train-cpu-minutes", type=float, default=None,
                    help="process CPU minutes the training had used at this checkpoint (recorded in the JSON)")
    ap.add_argument("--gmm-components", type=int, nargs="+", default=[],
                    help="also score mixtures of these sizes, refitted here to --fit-images training codes "
                         "(prior names gmmK; how many components the config should set)")
    ap.add_argument("--fit-images", type=int, default=FIT_IMAGES,
                    help="training images the refitted mixtures (--gmm-components) are fitted to (default 4,096: "
                         "the trainer's exports before train.prior_fit_codes; 0 = all)")
    ap.add_argument("--fit-flips", action="store_true",
                    help="fit the refitted mixtures also to the mirrored training images (twice the codes)")
    ap.add_argument("--truncation", type=float, nargs="+", default=[],
                    help="also score each prior with ε resampled where |ε| exceeds each of these (sample --truncation)")
    ap.add_argument("--images", default=str(REPO / "docs" / "images"))
    ap.add_argument("--results", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()

    import numpy as np
    import torch

    import animegen
    from animegen.data.sources import open_source
    from animegen.fsutil import atomic_write_json
    from animegen.imaging import save_grid, to_tensor
    from animegen.metrics.evaluate import EvalOptions, evaluate_images, generate
    from animegen.models import losses
    from animegen.train.device import machine_line

    torch.set_num_threads(1)
    real = open_source(args.data, size=64, channels=3)
    images = np.asarray(real.images)
    held = images[real.val_mask]  # [V, 64, 64, 3] uint8, never trained on
    train = images[~real.val_mask][:FIT_IMAGES]
    refit_on_train = args.fit_images == FIT_IMAGES and not args.fit_flips  # the images of `train` above

    def refit_images() -> np.ndarray:
        """The refitted mixtures' images: [F, 64, 64, 3], or [2F, …] with their mirror images (--fit-flips)."""
        imgs = images[~real.val_mask][:args.fit_images or None]
        return np.concatenate([imgs, imgs[:, :, ::-1]]) if args.fit_flips else imgs  # mirrored faces are faces too

    def train_batches(source=train):
        return (to_tensor(source[i:i + 256]) for i in range(0, len(source), 256))  # [≤256, 3, 64, 64] each

    @torch.no_grad()
    def train_codes(model, source=train) -> torch.Tensor:
        from animegen.latent.prior import encode_all

        return encode_all(model.encode, train_batches(source))  # [N, z]

    Path(args.images).mkdir(parents=True, exist_ok=True)
    Path(args.results).mkdir(parents=True, exist_ok=True)
    for spec in args.run:
        label, run = spec.split("=", 1)
        ckpt = Path(run) / args.checkpoint
        model = animegen.load(ckpt)
        model.eval()
        header = model.checkpoint_header
        priors = [p for p in args.priors.split(",") if p]
        unfitted = model.fitted_prior() is None or ("gmm" in priors and model.mixture_prior() is None)
        if unfitted and hasattr(model, "fit_priors"):  # a periodic export (train.export_priors=end) or an old run
            t0 = time.process_time()
            model.fit_priors(train_batches())
            print(f"{label}: fitted the mixture here ({time.process_time() - t0:.0f} CPU-s)", file=sys.stderr)
        codes = None  # the training codes, encoded once for the priors fitted below
        refit_codes = None  # how many codes the --gmm-components mixtures were fitted to
        if "stage2" in priors and model.stage2_prior() is None:  # a run trained without model.prior_stage2
            from animegen.latent.stage2 import fit_stage2

            t0 = time.process_time()
            codes = train_codes(model)
            s2 = fit_stage2(codes, hidden=256)
            model.stage2_prior = lambda s2=s2: s2  # the instance's own prior from here on
            print(f"{label}: fitted the second-stage VAE here ({time.process_time() - t0:.0f} CPU-s)", file=sys.stderr)
        samplers = {p: model for p in priors}
        if args.gmm_components:
            from animegen.latent.gmm import fit_gmm

            if codes is None or not refit_on_train:
                codes = train_codes(model, train if refit_on_train else refit_images())
            refit_codes = len(codes)
            print(f"{label}: refitting mixtures to {refit_codes} codes", file=sys.stderr)
            for k in args.gmm_components:
                t0 = time.process_time()
                fit = fit_gmm(codes, k, model.config.prior_covariance, seed=0)  # as MixturePrior.fit_mixture
                other = copy.deepcopy(model)
                other.mixture_prior = lambda fit=fit: fit  # this copy samples the refitted mixture
                samplers[f"gmm{k}"] = other
                print(f"{label}: fitted a {k}-component mixture ({time.process_time() - t0:.0f} CPU-s)",
                      file=sys.stderr)
        mse, kl, mus = [], [], []
        with torch.no_grad():
            for i in range(0, len(held), 256):
                x = to_tensor(held[i:i + 256])  # [b, 3, 64, 64] in [-1, 1]
                mu, logvar = model.posterior(x)  # [b, z] each
                rec = model.decode(mu)  # [b, 3, 64, 64]
                mse.append(losses.squared_error_per_image(x, rec) / x[0].numel())
                kl.append(losses.kl_diag_normal_std_normal(mu, logvar))
                mus.append(mu)
        mu_all = torch.cat(mus)  # [V, z]
        x16 = to_tensor(held[:16])
        save_grid(torch.cat([x16, model.reconstruct(x16)]), Path(args.images) / f"{label}_recon.png", nrow=16)
        scores = {}
        runs = [(name, sampler, t) for name, sampler in samplers.items() for t in [None, *args.truncation]]
        for base, sampler, t in runs:
            prior = "gmm" if base.startswith("gmm") else base
            name = base if t is None else f"{base}_t{t:g}"
            save_grid(sampler.sample(64, torch.Generator().manual_seed(0), prior=prior, truncation=t),
                      Path(args.images) / f"{label}_{name}.png", nrow=8)
            if args.n:
                opts = EvalOptions(n=args.n, n_real=args.n_real or None, real_split="val", seed=0, recon=False,
                                   detect=False, memorisation=False)
                t0 = time.process_time()
                fake = generate(sampler, args.n, seed=1234, prior=prior, truncation=t)
                m = evaluate_images(fake, real, opts)
                scores[name] = {k: m.get(k) for k in ("fid", "kid", "kid_std", "precision", "recall")}
                scores[name]["cpu_seconds"] = round(time.process_time() - t0, 1)
                print(f"{label} {name}: FID {m.get('fid'):.1f}", file=sys.stderr, flush=True)
        result = {
            "command": "python benchmarks/vae_priors.py " + " ".join(sys.argv[1:]),
            "machine": machine_line(),
            "python_machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "label": label,
            "family": model.family,
            "steps": header["step"],
            "train_cpu_minutes": args.train_cpu_minutes,
            "heldout_images": len(held),
            "heldout_mse_per_pixel": float(torch.cat(mse).mean()),
            "kl_per_image": float(torch.cat(kl).mean()),
            "active_units": int((mu_all.var(0) > 0.01).sum()),
            "latent_dim": model.latent_dim,
            "code_std_per_dim_mean": float(model.prior_scale_tril.pow(2).sum(1).sqrt().mean()),
            "obs_std": float(model.log_obs_std.exp()) if hasattr(model, "log_obs_std") else None,
            "n_generated": args.n,
            "n_real": args.n_real or len(held),
            "checkpoint": args.checkpoint,
            "mixture_codes": int(model.gmm_count) if hasattr(model, "gmm_count") else None,  # prior "gmm"'s fit
            "refit_codes": refit_codes,
            "fid_by_prior": scores,
            "val": header["extra"].get("val"),
            "config": json.loads((Path(run) / "config.json").read_text()),
        }
        cut = "".join(f"_t{t:g}" for t in args.truncation)
        out = Path(args.results) / f"vae_priors_{label}_{'-'.join(samplers)}{cut}.json"
        atomic_write_json(out, result, mark=True)
        print(json.dumps({k: result[k] for k in ("label", "steps", "heldout_mse_per_pixel", "kl_per_image",
                                                 "active_units", "code_std_per_dim_mean")}
                         | {"fid": {p: s["fid"] for p, s in scores.items()}}, indent=2))


if __name__ == "__main__":
    main()
