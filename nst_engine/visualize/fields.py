"""Receptive fields: which input pixels a unit at (row, col) of a layer sees.

``info`` is the layer's ``vgg.LayerInfo`` (field, stride, offset), computed from the network
itself; every box here is end-exclusive, (x0, y0, x1, y1), and clipped at the image border
unless said otherwise.
"""
from __future__ import annotations

import torch


def field_box(info, row: int, col: int, width: int, height: int, clip: bool = True) -> tuple:
    """(x0, y0, x1, y1), end-exclusive: the input pixels the unit at (row, col) sees."""
    half = (info.field - 1) / 2
    x0 = int(round(info.offset + col * info.stride - half))
    y0 = int(round(info.offset + row * info.stride - half))
    x1, y1 = x0 + info.field, y0 + info.field
    if clip:
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    return x0, y0, x1, y1


def field_origin(info, row: int, col: int) -> tuple:
    """Top-left corner of the unclipped field (it may lie outside the image)."""
    x0, y0, _, _ = field_box(info, row, col, 0, 0, clip=False)
    return x0, y0


def field_crop(info, row: int, col: int, width: int, height: int) -> tuple:
    """A crop of the input that reproduces the unit's activation exactly, and where the unit is in it.

    The crop holds the whole (clipped) receptive field; its top-left corner is moved up/left
    to a multiple of the layer's stride so that every pooling window of the crop coincides
    with one of the full image's, and it reaches at least to the end of the unit's own
    pooling window so the position exists in the crop's grid. Zero padding then only
    appears where the full image has it too (at the image border) or outside the field.
    Returns ((x0, y0, x1, y1), (row, col) in the crop's grid).
    """
    s = info.stride
    bx0, by0, bx1, by1 = field_box(info, row, col, width, height)
    x0, y0 = (bx0 // s) * s, (by0 // s) * s
    x1 = min(width, max(bx1, (col + 1) * s))
    y1 = min(height, max(by1, (row + 1) * s))
    return (x0, y0, x1, y1), (row - y0 // s, col - x0 // s)


def axis_boxes(info, n: int, length: int) -> torch.Tensor:
    """Clipped [start, end) of the field of every grid position along one axis: (n, 2)."""
    half = (info.field - 1) / 2
    start = torch.round(info.offset + torch.arange(n, dtype=torch.float64) * info.stride - half)
    return torch.stack([start.clamp(0, length), (start + info.field).clamp(0, length)], 1).float()
