"""Environment report: what animegen can do on this machine and what to install for the rest."""
from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import platform
from dataclasses import dataclass


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def checks() -> list[Check]:
    import torch

    from animegen.train.device import cpu_has_bf16

    out: list[Check] = []
    out.append(Check("python", True, platform.python_version()))
    out.append(Check("torch", True, f"{torch.__version__} ({torch.get_num_threads()} threads, "
                                   f"cpu capability {torch.backends.cpu.get_cpu_capability()})"))
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        out.append(Check("accelerator", True, f"CUDA: {torch.cuda.device_count()} × {name}, bf16 "
                                              f"{'yes' if torch.cuda.is_bf16_supported() else 'no'}"))
    else:
        out.append(Check("accelerator", True, "none (CPU training; a GPU needs a CUDA build of torch)",
                         "GPU users: install torch for your CUDA first, then animegen"))
    bf16 = cpu_has_bf16()
    out.append(Check("cpu bf16", bf16, "native bf16: train.precision=auto trains in bf16" if bf16
                     else "no native bf16: fp32 is used", "" if bf16 else "nothing to do; training runs in fp32"))

    def opt(name: str, module: str, dist: str, extra: str, purpose: str) -> None:
        v = _version(dist) if importlib.util.find_spec(module) else None
        out.append(Check(name, v is not None, f"{dist} {v} — {purpose}" if v else f"not installed — {purpose}",
                         "" if v else f"pip install 'animegen[{extra}]'"))

    opt("detect/animeface", "animeface", "animeface", "detect", "anime face detection (bundled model)")
    cv = _version("opencv-python-headless") or _version("opencv-python")
    if cv is None:
        out.append(Check("detect/opencv", False, "not installed — LBP cascade detector",
                         "pip install 'animegen[detect]'"))
    else:
        ok = int(cv.split(".")[0]) < 5
        out.append(Check("detect/opencv", ok, f"opencv {cv} — LBP cascade detector",
                         "" if ok else "opencv 5 removed CascadeClassifier: pip install 'opencv-python-headless<5'"))
        both = _version("opencv-python-headless") and _version("opencv-python")
        if both:
            out.append(Check("detect/opencv-conflict", False, "opencv-python and opencv-python-headless both installed",
                             "pip uninstall opencv-python"))
    pil = _version("pillow") or "?"
    pil_ok = pil == "?" or int(pil.split(".")[0]) < 12
    out.append(Check("pillow", pil_ok, f"pillow {pil}", "" if pil_ok else "animeface finds no faces on Pillow >= 12: "
                                                                       "pip install 'pillow<=11.3'"))
    opt("video", "imageio_ffmpeg", "imageio-ffmpeg", "video", "MP4 export (GIF works without it)")
    opt("log", "tensorboard", "tensorboard", "log", "TensorBoard event files (metrics.jsonl always written)")
    dist_ok = torch.distributed.is_available()
    out.append(Check("distributed", dist_ok, "torch.distributed — multi-GPU / multi-node training with torchrun"
                     if dist_ok else "this torch build has no torch.distributed: one process only",
                     "" if dist_ok else "install a torch build with distributed support"))
    opt("hf", "datasets", "datasets", "hf", "datasets by Hugging Face name (hf:NAME downloads unless --offline)")
    opt("studio", "gradio", "gradio", "studio", "animegen studio, the local web app")
    try:
        from animegen.metrics.inception import describe_weights

        ok, detail, fix = describe_weights()
    except ImportError:
        ok, detail, fix = False, "metrics module not available", "reinstall animegen"
    out.append(Check("fid weights", ok, detail, fix))
    from animegen.offline import is_offline

    out.append(Check("network", True, "offline: hf:NAME reads only the local Hugging Face cache" if is_offline()
                     else "only hf:NAME data sources download (animegen --offline forbids it)"))
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        out.append(Check("env", True, "CUDA_VISIBLE_DEVICES is empty: GPUs hidden"))
    return out
