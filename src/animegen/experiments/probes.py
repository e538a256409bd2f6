"""Probe readouts shared by the perturbation and blend experiments: which attribute changed, and how much.

Groups map the article's words onto the synthetic faces' attributes: "eye colour" = ``eye_hue``,
"expression" = ``mouth`` and ``eye_state``, "hair" = the hair attributes.
"""
from __future__ import annotations

import torch
from torch import Tensor

GROUPS: dict[str, tuple[str, ...]] = {
    "eye colour": ("eye_hue",),
    "expression": ("mouth", "eye_state"),
    "hair": ("hair_hue", "hair_lightness", "hair_saturation", "hair_style", "bangs"),
}


def group_of(attribute: str) -> str | None:
    return next((g for g, names in GROUPS.items() if attribute in names), None)


def attribute_change(probe, before: dict[str, Tensor], after: dict[str, Tensor]) -> dict[str, Tensor]:
    """Per attribute, per image: total-variation distance of class probabilities (0..1), or |Δ value| over the
    attribute's range (0..1)."""
    out = {}
    for t in probe.config.targets:
        a, b = before[t.name].float(), after[t.name].float()
        if t.classes:
            out[t.name] = 0.5 * (a - b).abs().sum(1)  # [B]
        else:
            out[t.name] = (a - b).abs() / (t.high - t.low)  # [B]
    return out


def class_targets(probe) -> list[str]:
    return [t.name for t in probe.config.targets if t.classes]


@torch.no_grad()
def predict_decoded(model, probe, z: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Decode codes ``[N, D]`` and read them with the probe → (images ``[N, C, H, W]``, predictions)."""
    from animegen.latent.decoding import decode_codes

    x = decode_codes(model, z)  # [N, C, H, W]
    return x, probe.predict(x)
