"""The memory guard: what a job needs, and the size it is made when it would not fit.

Before the first step the job's peak memory is estimated (memory.py) for each scale: the
whole image in one pass where it fits, else the largest tile that fits (tiles.py). A job
that cannot fit at all is refused with the size that would, or, when no size was asked
for, made that size. planning.plan calls ``fit`` and puts its answer in the plan.
"""
from __future__ import annotations

from dataclasses import dataclass

from nst_contract.events import EngineError
from nst_contract.options import MIN_SIDE, fit_longest

from ..services import devices
from . import memory, tiles
from .optimizer import LBFGS_HISTORY
from .schedule import schedule, style_sizes


@dataclass(frozen=True)
class MemoryFit:
    """What the guard decided: the result's size, its schedule, a tile per scale, the peak."""

    output_size: tuple  # (w, h)
    scales: list
    steps: list
    tiles: list  # per scale: tile core side, or None (the whole image in one pass)
    need_bytes: int
    note: str = ""  # why the result is smaller than the content (memory), for people


def scale_need(net, req, size, steps: int, style_hws, have) -> tuple:
    """(tile core side or None, bytes) for one scale: the whole image in one pass when it fits
    in ``have`` (or a tile was not asked for), else the largest tile that fits."""
    w, h = size
    history = min(LBFGS_HISTORY, steps) if req.optimizer == "lbfgs" else 2
    if req.tile:
        candidates = [req.tile] if max(w, h) > req.tile else [None]
    else:
        candidates = [None] + [t for t in (tiles.TILE_SIZE >> k for k in range(8))
                               if tiles.MIN_TILE_SIZE <= t < max(w, h)]
    for tile in candidates:
        if tile is None:
            need = memory.estimate_bytes(net, (h, w), style_hws, history)
        else:
            crop_hw = max(((y1 - y0, x1 - x0) for y0, y1, x0, x1 in (t.crop for t in tiles.layout((h, w), tile))),
                          key=lambda hw: hw[0] * hw[1])
            need = memory.tiled_bytes(net, (h, w), crop_hw, history, req.content_layer)
        if devices.fits(need, have) or tile == candidates[-1]:
            return tile, need


def _job_need(net, req, regions, decode_bytes: int, scales, steps, have) -> tuple:
    """([tile per scale], peak bytes of the whole job)."""
    found = [scale_need(net, req, size, n, style_sizes(regions, req.style_scale, max(size)), have)
             for size, n in zip(scales, steps)]
    return [t for t, _ in found], max(need for _, need in found) + decode_bytes


def fit(net, req, regions, decode_bytes: int, output_size, scale_iterations, device) -> MemoryFit:
    """The job at ``output_size`` when it fits in the memory free on ``device``; else, when no
    size was asked for, at the largest size that fits (the note says so); else refused up
    front with the size that would fit."""
    have = devices.available_bytes(device)
    scales, steps = schedule(req, output_size, scale_iterations)
    tiles_, need = _job_need(net, req, regions, decode_bytes, scales, steps, have)
    if devices.fits(need, have):
        return MemoryFit(tuple(output_size), scales, steps, tiles_, need)
    w, h = output_size
    lo = _largest_fitting_side(net, req, regions, decode_bytes, output_size, scale_iterations, have)
    if req.size is None and lo > MIN_SIDE:
        out = fit_longest(w, h, lo)
        scales, steps = schedule(req, out, scale_iterations)
        tiles_, smaller = _job_need(net, req, regions, decode_bytes, scales, steps, have)
        note = (f"the {w}x{h} result would need about {need / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB "
                f"is free, so the result is {out[0]}x{out[1]}, the largest size that fits")
        return MemoryFit(out, scales, steps, tiles_, smaller, note)
    fits = f"the largest size that fits is about --size {lo}" if lo > MIN_SIDE else "no size fits"
    raise EngineError("out_of_memory",
                      f"a {w}x{h} result needs about {need / 2**30:.1f} GiB on {device.type} but only "
                      f"{have / 2**30:.1f} GiB is free; {fits} (or free memory / use another device)")


def _largest_fitting_side(net, req, regions, decode_bytes, output_size, scale_iterations, have) -> int:
    """The largest longest side (≥ MIN_SIDE, ≤ the planned one) whose whole job fits in ``have``.

    The need is not monotone in the side (where tiles are cut, how deep the pyramid goes and its
    steps all change with it), so a bisection over it stops at any gap, and its answer depended on
    the size asked for. Instead: no side above ``_side_bound`` can fit, and the sides from there
    down are tried in turn, the first that fits being the answer."""
    w, h = output_size
    bound = _side_bound(net, req, decode_bytes, output_size, have)
    for side in range(min(max(w, h), bound), MIN_SIDE, -1):
        if _fits(net, req, regions, decode_bytes, fit_longest(w, h, side), scale_iterations, have):
            return side
    return MIN_SIDE


def _fits(net, req, regions, decode_bytes, size, scale_iterations, have) -> bool:
    """Whether a result of ``size`` fits in ``have``: its finest scale first (where it most often fails)."""
    scales, steps = schedule(req, size, scale_iterations)
    _, finest = scale_need(net, req, scales[-1], steps[-1], style_sizes(regions, req.style_scale, max(size)), have)
    if not devices.fits(finest + decode_bytes, have):
        return False
    return devices.fits(_job_need(net, req, regions, decode_bytes, scales, steps, have)[1], have)


def _side_bound(net, req, decode_bytes, output_size, have) -> int:
    """A longest side above which no result fits (bisection over a lower bound of the need that
    grows with the side: the finest scale, one history entry, and for a tiled pass the
    full-size images alone, with a tile of nothing)."""
    w, h = output_size

    def least(side) -> int:
        rw, rh = fit_longest(w, h, side)
        whole = memory.estimate_bytes(net, (rh, rw), (), 1)
        tiled = memory.tiled_bytes(net, (rh, rw), (1, 1), 1, req.content_layer)
        return min(whole, tiled) + decode_bytes

    lo, hi = MIN_SIDE, max(w, h)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if devices.fits(least(mid), have) else (lo, mid - 1)
    return lo
