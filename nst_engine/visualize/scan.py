"""Scanning: every image once through the network, keeping each unit's best patches and mean.

Per layer and unit, ``TopK`` keeps the K best activations over all positions of all images
(after non-maximum suppression inside each image, suppress.py) and the sum for the unit's
mean activation; then the units are chosen and their best positions become ``Patch``es,
placed in the picture's layout.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..services import images
from ..services.cancel import check
from .results import Patch
from .fields import field_box
from .suppress import image_top

UNIT_RULE = "mean"  # units chosen by highest mean activation over all positions of all images


class TopK:
    """Running top-k per unit over images, plus the sum for the mean activation."""

    def __init__(self, channels: int, k: int):
        self.k = k
        self.vals = torch.full((channels, k), -math.inf)
        self.meta = torch.zeros((channels, k, 3), dtype=torch.long)  # image index, row, col
        self.sum = torch.zeros(channels, dtype=torch.float64)
        self.count = 0

    def add(self, index: int, act: torch.Tensor, vals, rows, cols) -> None:
        self.sum += act.reshape(act.shape[0], -1).double().sum(1)
        self.count += act.shape[1] * act.shape[2]
        meta = torch.stack([torch.full_like(rows, index), rows, cols], -1)
        all_vals = torch.cat([self.vals, vals], 1)
        all_meta = torch.cat([self.meta, meta], 1)
        # stable: on ties the earlier image (and the better rank inside it) wins
        order = torch.sort(all_vals, dim=1, descending=True, stable=True).indices[:, : self.k]
        self.vals = torch.gather(all_vals, 1, order)
        self.meta = torch.gather(all_meta, 1, order[..., None].expand(-1, -1, 3))

    @property
    def mean(self) -> torch.Tensor:
        return self.sum / max(1, self.count)


def choose_units(mean: torch.Tensor, n: int) -> list:
    """The rule: the n units with the highest mean activation over the set (ties: lower id first)."""
    order = sorted(range(len(mean)), key=lambda u: (-float(mean[u]), u))
    return order[: min(n, len(mean))]


def scan(plan, scanner, report, cancel) -> dict:
    """{layer: TopK} over all of ``plan.sources``; one progress event and one cancel check per image."""
    req, info = plan.req, plan.info
    pixels = [s.rgb.width * s.rgb.height for s in plan.sources]
    total_px, done_px = float(sum(pixels)), 0.0
    best = {layer: TopK(info[layer].channels, req.top) for layer in plan.layers}
    for index, src in enumerate(plan.sources):
        check(cancel)
        acts = scanner(images.to_tensor(src.rgb))
        for layer in plan.layers:
            act = acts[layer]
            vals, rows, cols = image_top(act, info[layer], src.rgb.width, src.rgb.height, req.top, req.overlap)
            best[layer].add(index, act, vals, rows, cols)
        done_px += pixels[index]
        report.progress("scan", index + 1, len(plan.sources), plan.scan_share * done_px / total_px, src.path)
    return best


class UnitRow(NamedTuple):
    unit: int
    mean: float  # the unit's mean activation over the set
    y: int  # top of its row in the picture
    patches: list  # its best Patches, best first


def pick_patches(plan, best: dict) -> dict:
    """{layer: [UnitRow, ...]}: the units shown (given, or by the rule) with their patches placed."""
    unit_rows = {}
    for b, layer in enumerate(plan.layers):
        ids = plan.wanted_ids[layer]
        units = ids if ids is not None else choose_units(best[layer].mean, plan.req.units)
        _, _, row_ys, _ = plan.layout.blocks[b]
        unit_rows[layer] = [UnitRow(unit, float(best[layer].mean[unit]), row_ys[u],
                                    _unit_patches(plan, layer, best[layer], unit, row_ys[u]))
                            for u, unit in enumerate(units)]
    return unit_rows


def _unit_patches(plan, layer: str, best: TopK, unit: int, row_y: int) -> list:
    li, req, layout = plan.info[layer], plan.req, plan.layout
    mine = []
    for rank in range(req.top):
        value = float(best.vals[unit, rank])
        if not math.isfinite(value):
            break
        index, row, col = (int(v) for v in best.meta[unit, rank])
        src = plan.sources[index]
        box = field_box(li, row, col, src.rgb.width, src.rgb.height)
        sx, sy = src.original_size[0] / src.rgb.width, src.original_size[1] / src.rgb.height
        box_orig = (round(box[0] * sx), round(box[1] * sy), round(box[2] * sx), round(box[3] * sy))
        mine.append(Patch(layer, unit, rank, value, src.path, index, (row, col), box, box_orig,
                          layout.cell_box(row_y, rank),
                          layout.cell_box(row_y, rank, True) if req.gradients else None))
    return mine
