"""The memory guard and the cost model: what a job needs, and how long its steps take.

Before the first step the job's peak memory is estimated (memory.py) for each scale: the
whole image in one pass where it fits, else the largest tile that fits (tiles.py). A job
that cannot fit at all is refused with the size that would, or, when no size was asked
for, made that size. The step and setup costs (pixels through the network) turn steps into
the progress fraction and the estimates the plug-in shows (numerics.estimates).
"""
from __future__ import annotations

from .. import devices, images, memory, tiles
from ..errors import EngineError
from ..images import MIN_SIDE
from ..request import MIN_TILE_SIZE, TILE_SIZE
from .optimizer import LBFGS_HISTORY
from .planning import _schedule


def _style_hws(req, plan_, longest: int) -> list:
    """(h, w) of every style image as seen when the result's longest side is ``longest``."""
    return [images.fit_longest(*s.size, round(longest * req.style_scale))[::-1] for r in plan_.regions for s in r.styles]


def _scale_need(net, req, size, steps: int, style_hws, have) -> tuple:
    """(tile core side or None, bytes) for one scale: the whole image in one pass when it fits
    in ``have`` (or a tile was not asked for), else the largest tile that fits."""
    w, h = size
    history = min(LBFGS_HISTORY, steps) if req.optimizer == "lbfgs" else 2
    if req.tile:
        candidates = [req.tile] if max(w, h) > req.tile else [None]
    else:
        candidates = [None] + [t for t in (TILE_SIZE >> k for k in range(8)) if MIN_TILE_SIZE <= t < max(w, h)]
    for tile in candidates:
        if tile is None:
            need = memory.estimate_bytes(net, (h, w), style_hws, history)
        else:
            crop_hw = max(((y1 - y0, x1 - x0) for y0, y1, x0, x1 in (t.crop for t in tiles.layout((h, w), tile))),
                          key=lambda hw: hw[0] * hw[1])
            need = memory.tiled_bytes(net, (h, w), crop_hw, history, req.content_layer)
        if have is None or need <= 0.9 * have or tile == candidates[-1]:
            return tile, need


def _job_need(net, req, plan_, scales, steps, have) -> tuple:
    """([tile per scale], peak bytes of the whole job)."""
    found = [_scale_need(net, req, size, n, _style_hws(req, plan_, max(size)), have) for size, n in zip(scales, steps)]
    return [t for t, _ in found], max(need for _, need in found) + plan_.decode_bytes


def _check_memory(net, req, plan_, device) -> tuple:
    """(MiB needed, tile per scale); a job that cannot fit is refused up front with the size
    that fits, or, when no size was asked for, made that size (``plan_.note`` says so)."""
    have = devices.available_bytes(device)
    tiles_, need = _job_need(net, req, plan_, plan_.scales, plan_.steps, have)
    if have is None or need <= 0.9 * have:
        return need / 2**20, tiles_
    w, h = plan_.output_size
    lo = _largest_fitting_side(net, req, plan_, have)
    if req.size is None and lo > MIN_SIDE:
        out_w, out_h = images.fit_longest(w, h, lo)
        plan_.note = (f"the {w}x{h} result would need about {need / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB "
                      f"is free, so the result is {out_w}x{out_h}, the largest size that fits")
        plan_.output_size = (out_w, out_h)
        plan_.scales, plan_.steps = _schedule(req, (out_w, out_h), plan_.scale_iterations)
        tiles_, need = _job_need(net, req, plan_, plan_.scales, plan_.steps, have)
        return need / 2**20, tiles_
    fits = f"the largest size that fits is about --size {lo}" if lo > MIN_SIDE else "no size fits"
    raise EngineError("out_of_memory",
                      f"a {w}x{h} result needs about {need / 2**30:.1f} GiB on {device.type} but only "
                      f"{have / 2**30:.1f} GiB is free; {fits} (or free memory / use another device)")


def _largest_fitting_side(net, req, plan_, have) -> int:
    """The largest longest side (≥ MIN_SIDE, ≤ the planned one) whose whole job fits in ``have``.

    The need is not monotone in the side (where tiles are cut, how deep the pyramid goes and its
    steps all change with it), so a bisection over it stops at any gap, and its answer depended on
    the size asked for. Instead: no side above ``_side_bound`` can fit, and the sides from there
    down are tried in turn, the first that fits being the answer."""
    w, h = plan_.output_size
    for side in range(min(max(w, h), _side_bound(net, req, plan_, have)), MIN_SIDE, -1):
        if _fits(net, req, plan_, images.fit_longest(w, h, side), have):
            return side
    return MIN_SIDE


def _fits(net, req, plan_, size, have) -> bool:
    """Whether a result of ``size`` fits in ``have``: its finest scale first (where it most often fails)."""
    scales, steps = _schedule(req, size, plan_.scale_iterations)
    _, finest = _scale_need(net, req, scales[-1], steps[-1], _style_hws(req, plan_, max(size)), have)
    if finest + plan_.decode_bytes > 0.9 * have:
        return False
    return _job_need(net, req, plan_, scales, steps, have)[1] <= 0.9 * have


def _side_bound(net, req, plan_, have) -> int:
    """A longest side above which no result fits (bisection over a lower bound of the need that
    grows with the side: the finest scale, one history entry, and for a tiled pass the
    full-size images alone, with a tile of nothing)."""
    w, h = plan_.output_size

    def least(side) -> int:
        rw, rh = images.fit_longest(w, h, side)
        whole = memory.estimate_bytes(net, (rh, rw), (), 1)
        tiled = memory.tiled_bytes(net, (rh, rw), (1, 1), 1, req.content_layer)
        return min(whole, tiled) + plan_.decode_bytes

    lo, hi = MIN_SIDE, max(w, h)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if least(mid) <= 0.9 * have else (lo, mid - 1)
    return lo


def _step_cost(size, tile) -> float:
    """Relative cost of one optimisation step: pixels through the network, and for a tiled
    scale its halos and the extra forward pass that sums the whole image's Grams (tiles.py)."""
    w, h = size
    if tile is None:
        return float(w * h)
    crops = tiles.layout((h, w), tile)
    return 4 / 3 * sum((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in (t.crop for t in crops))


def _closing_cost(size, tile) -> float:
    """Relative cost of a tiled scale's closing evaluation of its image (the objective it ends
    with: one forward per tile, a quarter of a step). Untiled, it is one forward of seconds and
    not counted."""
    return _step_cost(size, tile) / 4 if tile else 0.0


def _setup_cost(size, tile, style_hws) -> float:
    """Relative cost (``_step_cost``'s unit) of a scale's setup: one forward pass (≈ 1/3 of a
    forward+backward) of each style image and of the content, with halos when tiled."""
    pixels = sum(h * w for h, w in style_hws) + size[0] * size[1]
    return pixels / 3 * (_step_cost(size, tile) * 3 / 4 / (size[0] * size[1]) if tile else 1)
