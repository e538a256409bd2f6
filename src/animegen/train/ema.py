"""Exponential moving average of the sampled submodule's weights (``model.ema_module``).

``ema ← decay · ema + (1 − decay) · w`` after every step from ``train.ema_start`` on (the weights are
copied before that); buffers (BatchNorm running statistics) are copied, not averaged. Exported
checkpoints and the trainer's sample grids use these weights: :meth:`EMA.swapped` puts them into the live
model for the duration of a ``with`` block (restored bit-exactly afterwards), and
:meth:`EMA.export_state_dict` is the model's ``state_dict`` with the EMA tensors substituted.

BatchNorm running statistics belong to the weights that produced them: with averaged weights they no longer
fit, and samples come out washed out (low pixel contrast against real faces).
:func:`recalibrate_batchnorm` re-estimates them for the averaged weights (the trainer does it, with the EMA
swapped in, before every export and sample grid), as in Izmailov et al. 2018 (SWA, §3.2) for averaged weights.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn


class EMA:
    def __init__(self, model: nn.Module, module_name: str | None, decay: float, start: int = 0):
        self.decay = float(decay)
        self.start = int(start)
        self.module_name = module_name if module_name and self.decay > 0 else None
        self.params: dict[str, Tensor] = {}
        self.buffers: dict[str, Tensor] = {}
        if self.module_name is None:
            return
        sub = getattr(model, self.module_name, None)
        if not isinstance(sub, nn.Module):
            raise AttributeError(f"{type(model).__name__}.ema_module = {self.module_name!r} is not a submodule")
        with torch.no_grad():
            self.params = {n: p.detach().clone() for n, p in sub.named_parameters()}
            self.buffers = {n: b.detach().clone() for n, b in sub.named_buffers()}

    @property
    def enabled(self) -> bool:
        return self.module_name is not None

    def _live(self, model: nn.Module) -> tuple[list[Tensor], list[Tensor]]:
        sub = getattr(model, str(self.module_name))
        params = dict(sub.named_parameters())
        buffers = dict(sub.named_buffers())
        return [params[n].detach() for n in self.params], [buffers[n] for n in self.buffers]

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Fold the current weights in; ``step`` is the number of completed training steps."""
        if not self.enabled:
            return
        live_p, live_b = self._live(model)
        shadow_p = list(self.params.values())
        if step <= self.start:
            torch._foreach_copy_(shadow_p, live_p)
        else:
            torch._foreach_lerp_(shadow_p, live_p, 1.0 - self.decay)
        for s, b in zip(self.buffers.values(), live_b, strict=False):
            s.copy_(b)

    def export_state_dict(self, model: nn.Module) -> dict[str, Tensor]:
        """``model.state_dict()`` with the EMA weights in place of ``model.<ema_module>``'s."""
        sd = model.state_dict()
        if not self.enabled:
            return sd
        prefix = f"{self.module_name}."
        for n, t in {**self.params, **self.buffers}.items():
            if prefix + n in sd:
                sd[prefix + n] = t
        return sd

    @contextlib.contextmanager
    def swapped(self, model: nn.Module) -> Iterator[nn.Module]:
        """Use the EMA weights inside the block; the training weights come back bit-exactly after it."""
        if not self.enabled:
            yield model
            return
        live_p, live_b = self._live(model)
        live = live_p + live_b
        shadow = list(self.params.values()) + list(self.buffers.values())
        with torch.no_grad():
            backup = [t.clone() for t in live]
            torch._foreach_copy_(live, shadow)
        try:
            yield model
        finally:
            with torch.no_grad():
                torch._foreach_copy_(live, backup)

    def has_batchnorm(self, model: nn.Module) -> bool:
        return self.enabled and any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                                    for m in getattr(model, str(self.module_name)).modules())

    # ---- serialisation (animegen.train.state) ---------------------------------------------------
    def tensors(self) -> dict[str, Tensor]:
        out = {f"p.{n}": t for n, t in self.params.items()}
        out.update({f"b.{n}": t for n, t in self.buffers.items()})
        return out

    @torch.no_grad()
    def load_tensors(self, tensors: dict[str, Tensor]) -> None:
        for n, t in self.params.items():
            t.copy_(tensors[f"p.{n}"])
        for n, t in self.buffers.items():
            t.copy_(tensors[f"b.{n}"])


@torch.no_grad()
def recalibrate_batchnorm(module: nn.Module, forward: Callable[[], object], batches: int = 16) -> None:
    """Reset the BatchNorm running statistics of ``module`` and re-estimate them as the plain average over
    ``batches`` calls of ``forward()`` in training mode (which must run ``module``); eval/train mode restored."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    modes = {mod: mod.training for mod in module.modules()}
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    module.train()
    try:
        for _ in range(batches):
            forward()
    finally:
        for m, mom in zip(norms, momenta, strict=True):
            m.momentum = mom
        for mod, was in modes.items():
            mod.training = was
