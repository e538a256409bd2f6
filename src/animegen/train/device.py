"""Pick the device and the numeric precision a run trains in (``train.device``, ``train.precision``)."""
from __future__ import annotations

import torch

from animegen.errors import ConfigError

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto``: CUDA (the ``local_rank``-th GPU under torchrun), then Apple MPS, then CPU."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device: unknown device '{name}'; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("train.device=cuda but this torch build sees no CUDA GPU; use train.device=cpu "
                              "or install a CUDA build of torch")
        if dev.index is None:
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError("train.device=mps but MPS is not available here; use train.device=cpu")
    elif dev.type != "cpu":
        raise ConfigError(f"train.device: unsupported device '{name}'; use auto, cpu, cuda, cuda:N or mps")
    return dev


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_line() -> str:
    """What a benchmark result says of the machine it ran on: CPU model, core count, architecture."""
    import os
    import platform

    return f"{cpu_name()}, {os.cpu_count()} cores, {platform.machine()}"


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 dot products (AVX512-BF16 or AMX), where bf16 autocast pays."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` → ``bf16`` on CPUs with native bf16 (AVX512-BF16/AMX) and on CUDA GPUs with bf16; else ``fp32``."""
    precision = (precision or "auto").lower()
    if precision == "auto":
        if device.type == "cpu":
            return "bf16" if cpu_has_bf16() else "fp32"
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return "fp32"
    if precision not in ("fp32", "bf16", "fp16"):
        raise ConfigError(f"train.precision: '{precision}' is not one of auto, fp32, bf16, fp16")
    return precision
