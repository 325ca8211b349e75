"""Non-maximum suppression: one image's best positions per unit, without near-duplicates.

Two patches of one unit from one image may overlap by at most ``overlap`` (intersection
over union of their clipped fields), so that the top patches show different places rather
than the same place shifted by a pixel or two.
"""
from __future__ import annotations

import math

import torch

from .fields import axis_boxes


def _inter(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Overlap lengths of every interval in ``a`` (n, 2) with every one in ``b`` (m, 2): (n, m)."""
    lo = torch.maximum(a[:, None, 0], b[None, :, 0])
    hi = torch.minimum(a[:, None, 1], b[None, :, 1])
    return (hi - lo).clamp_min(0)


def image_top(act: torch.Tensor, info, width: int, height: int, k: int, overlap: float):
    """Per unit, the k best positions of one image with non-maximum suppression.

    ``act``: (C, h, w). Greedy, all units at once: take each unit's maximum, then remove
    every position whose clipped field overlaps the taken one's by more than ``overlap``
    (intersection over union), k times. Returns (values (C, k), rows (C, k), cols (C, k));
    values are -inf where a unit has no position left.

    Many small tensor operations: run on one thread (with several, OpenMP's synchronisation
    costs more than the work, ~10× on a busy 2-core machine).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _image_top(act, info, width, height, k, overlap)
    finally:
        torch.set_num_threads(threads)


def _image_top(act, info, width, height, k, overlap):
    c, h, w = act.shape
    xs, ys = axis_boxes(info, w, width), axis_boxes(info, h, height)
    ix, iy = _inter(xs, xs), _inter(ys, ys)  # (w, w), (h, h)
    lx, ly = xs[:, 1] - xs[:, 0], ys[:, 1] - ys[:, 0]
    # Fields further apart than ``field`` pixels along an axis do not overlap: only a window of
    # ±ceil(field / stride) grid steps around a taken position can be suppressed.
    reach = math.ceil(info.field / info.stride)
    steps = torch.arange(-reach, reach + 1)
    scores = act.reshape(c, -1).float().clone()
    vals = torch.full((c, k), -math.inf)
    rows = torch.zeros((c, k), dtype=torch.long)
    cols = torch.zeros((c, k), dtype=torch.long)
    units = torch.arange(c)
    for j in range(k):
        best, where = scores.max(dim=1)
        alive = torch.isfinite(best)
        if not alive.any():
            break
        r, q = where // w, where % w
        vals[:, j] = torch.where(alive, best, torch.full_like(best, -math.inf))
        rows[:, j], cols[:, j] = r, q
        wr, wc = r[:, None] + steps, q[:, None] + steps  # (C, 2·reach+1)
        ok = (wr >= 0)[:, :, None] & (wr < h)[:, :, None] & (wc >= 0)[:, None, :] & (wc < w)[:, None, :]
        wr, wc = wr.clamp(0, h - 1), wc.clamp(0, w - 1)
        inter = iy[r[:, None], wr][:, :, None] * ix[q[:, None], wc][:, None, :]
        area = ly[wr][:, :, None] * lx[wc][:, None, :]
        chosen = (ly[r] * lx[q])[:, None, None]
        drop = ok & (inter / (chosen + area - inter) > overlap)
        flat = wr[:, :, None] * w + wc[:, None, :]
        scores[units[:, None, None].expand_as(flat)[drop], flat[drop]] = -math.inf
        scores[units, where] = -math.inf
    return vals, rows, cols
