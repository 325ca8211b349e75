"""The objective's terms, made scale-free so one set of weights means the same at any size.

- content: ‖F_g − F_c‖² / ‖F_c‖² at one layer;
- style: Σ_l w_l ‖Gram_g − Gram_s‖² / ‖Gram_s‖², Gram = F Fᵀ / (H·W), Σ w_l = 1;
- masked Gram: positions weighted by the region mask and divided by the region's
  own area, so a small region gets the same texture statistics as a large one;
- total variation: mean squared difference of neighbouring pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

EPS = 1e-12


@dataclass(frozen=True)
class ObjectiveSpec:
    """What an objective reads of a job: its layers and its weights, checked (planning.py makes it)."""

    content_layer: str
    style_layers: tuple
    layer_weights: tuple  # one per style layer, summing to 1
    content_weight: float  # α
    style_weight: float  # β (from --strength or --style-weight)
    tv_weight: float  # γ
    regions: tuple = (((1.0,), 1.0),)  # per region: (its styles' blend, its weight)


def gram(features: torch.Tensor, mask: torch.Tensor | None = None, n: float | None = None) -> torch.Tensor:
    """Gram matrix of (1, C, H, W) features; with ``mask`` (1, 1, H, W) in [0, 1], over the region only.

    ``n``: divide by this instead of the features' own positions (or mask weight): a tile's
    share of the whole image's Gram (tiles.py)."""
    c = features.shape[1]
    flat = features.reshape(c, -1)  # a view in either memory layout
    if mask is None:
        return _Gram.apply(flat, None, float(flat.shape[1]) if n is None else n)
    m = mask.reshape(1, -1)
    return _Gram.apply(flat, m, m.sum().clamp_min(EPS) if n is None else n)


class _Gram(torch.autograd.Function):
    """G = F·diag(m)·Fᵀ / n with a one-product backward, dF = (dG + dGᵀ)·F·diag(m) / n.

    Autograd's own backward of ``F @ F.T`` computes two C×C×HW products (one per operand); the
    symmetric form needs one, a third of the Gram's cost (profile: benchmarks/profile_step.py).
    The mask is a constant (no gradient).
    """

    @staticmethod
    def forward(ctx, flat, m, n):
        ctx.save_for_backward(flat, m)
        ctx.n = n
        return (flat if m is None else flat * m) @ flat.T / n

    @staticmethod
    def backward(ctx, grad):
        flat, m = ctx.saved_tensors
        d = ((grad + grad.T) / ctx.n) @ flat  # scale the C×C factor, not the C×HW product
        return (d if m is None else d * m), None, None


def relative_sq_error(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (value - target).pow(2).sum() / target.pow(2).sum().clamp_min(EPS)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


def carry_mask(mask: torch.Tensor, steps) -> dict[str, torch.Tensor]:
    """The region mask at every layer's resolution.

    ``steps`` is the network's (name, kernel, stride, padding) list. Pooling layers
    shrink the mask with an average pool of the same geometry (a cell's value is
    the fraction of it inside the region); convolutions keep the grid as it is.
    """
    out = {}
    for name, k, s, p in steps:
        if name.startswith("pool"):
            mask = F.avg_pool2d(mask, k, s, p, count_include_pad=False)
        out[name] = mask
    return out
