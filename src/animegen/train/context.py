"""The trainer's :class:`~animegen.models.base.StepContext`: mixed precision and the guarded update.

A model's ``train_step`` runs its forward passes under ``ctx.autocast()`` and performs every update
through ``ctx.optimize(name, loss)``, which does, in order:

1. ``zero_grad`` of optimizer ``name`` and ``backward`` (through the fp16 ``GradScaler`` if any);
2. data parallel: average the gradients of that optimizer's parameters over ranks (bucketed all-reduce;
   the loss rides along so that every rank takes the same divergence decision);
3. measure the total gradient norm (logged as ``grad_norm/<name>``), clip it when ``train.grad_clip``;
4. divergence check: a non-finite loss, a non-finite norm or a norm above ``train.max_grad_norm`` (when > 0) raises
   :class:`Divergence` *before* ``optimizer.step()``, so a bad update never reaches the weights;
5. ``optimizer.step()``.
"""
from __future__ import annotations

import contextlib
import math
from contextlib import AbstractContextManager

import torch
from torch import Tensor

from animegen.train.device import AMP_DTYPES
from animegen.train.distributed import DistInfo, all_reduce_mean_


class Divergence(RuntimeError):
    """Raised by :meth:`TrainContext.optimize` when an update would be non-finite or explosive."""

    def __init__(self, step: int, optimizer: str, loss: float, grad_norm: float, reason: str):
        self.step, self.optimizer, self.loss, self.grad_norm, self.reason = step, optimizer, loss, grad_norm, reason
        super().__init__(f"step {step}: {reason} (optimizer '{optimizer}', loss {loss:.4g}, grad norm {grad_norm:.4g})")


class TrainContext:
    """Real ``StepContext``: autocast, guarded optimizer steps, gradient all-reduce, norm logging."""

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer], device: torch.device | str = "cpu",
                 precision: str = "fp32", grad_clip: float = 0.0, max_grad_norm: float = 0.0,
                 dist: DistInfo | None = None):
        self.optimizers = optimizers
        self.device = torch.device(device)
        self.precision = precision
        self.amp_dtype = AMP_DTYPES.get(precision)
        self.grad_clip = float(grad_clip or 0.0)
        self.max_grad_norm = float(max_grad_norm) if max_grad_norm and max_grad_norm > 0 else math.inf
        self.dist = dist or DistInfo()
        self.scaler = torch.amp.GradScaler(self.device.type) if precision == "fp16" else None
        self.step = 0
        self.grad_norms: dict[str, Tensor] = {}
        """Last measured gradient norm per optimizer (before clipping), 0-d tensors."""
        self._params = {name: [p for g in opt.param_groups for p in g["params"]] for name, opt in optimizers.items()}

    # ---- StepContext ----------------------------------------------------------------------------
    def autocast(self) -> AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def optimize(self, name: str, loss: Tensor, retain_graph: bool = False) -> Tensor:
        if name not in self.optimizers:
            raise KeyError(f"train_step asked for optimizer '{name}'; make_optimizers() returned "
                           f"{', '.join(self.optimizers)}")
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward(retain_graph=retain_graph)
        else:
            loss.backward(retain_graph=retain_graph)
        params = [p for p in self._params[name] if p.grad is not None]
        grads = [p.grad for p in params]
        loss_value = loss.detach().float().reshape(1).clone()
        if self.dist.enabled:
            all_reduce_mean_(grads + [loss_value.to(grads[0].device if grads else self.device)], self.dist)
        if self.scaler is not None:
            self.scaler.unscale_(opt)
        if grads:
            norm = torch.nn.utils.get_total_norm(grads, foreach=True).float()
        else:
            norm = torch.zeros((), device=self.device)
        self.grad_norms[name] = norm.detach()
        # one host sync per update: is this update safe to apply?
        ok_loss, ok_norm, small = (torch.stack([loss_value.reshape(()).isfinite().to(norm.device), norm.isfinite(),
                                                norm <= self.max_grad_norm]).tolist())
        if not ok_loss:
            raise Divergence(self.step, name, float(loss_value), float(norm), "non-finite loss")
        if self.scaler is None and not ok_norm:
            raise Divergence(self.step, name, float(loss_value), float(norm), "non-finite gradient")
        if ok_norm and not small:
            raise Divergence(self.step, name, float(loss_value), float(norm),
                             f"gradient norm above train.max_grad_norm={self.max_grad_norm:g}")
        if self.grad_clip > 0 and grads:
            torch.nn.utils.clip_grads_with_norm_(params, self.grad_clip, norm, foreach=True)
        if self.scaler is not None:
            self.scaler.step(opt)  # skips the step itself when fp16 gradients overflowed
            self.scaler.update()
        else:
            opt.step()
        return norm.detach()
