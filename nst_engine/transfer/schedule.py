"""The pyramid, its iterations and the cost model: how long each part of a job takes, relatively.

The scales and their steps are the contract's (nst_contract.iterations: the plug-in states the
same schedules in its dialog); here they are read off a request, and turned into costs. A
cost is pixels through the network: a step's cost makes the progress fraction and ETA
(coarse_to_fine.py) and the time estimates the plug-in shows (numerics.estimates).
"""
from __future__ import annotations

from nst_contract import iterations
from nst_contract.events import bad_input
from nst_contract.options import MIN_SIDE, fit_longest
from nst_contract.requests import StylizeRequest

from . import tiles


def schedule(req: StylizeRequest, size, scale_iterations=None) -> tuple[list, list]:
    """(pyramid scales coarse → fine, iterations at each) of ``req`` at result ``size`` (w, h);
    ``scale_iterations``: a caller's own iterations per scale instead (benchmarks/schedules.py),
    refused when it has more scales than the result's size allows."""
    if scale_iterations is not None and len(scale_iterations) > iterations.deepest(size):
        raise bad_input(f"{len(scale_iterations)} scales of a {size[0]}x{size[1]} result would make the "
                        f"coarsest under {MIN_SIDE} px on its shorter side; give at most {iterations.deepest(size)}")
    return iterations.schedule(size, req.quality, req.iterations, req.coarsest, req.pyramid, scale_iterations)


def style_sizes(regions, style_scale: float, longest: int) -> list:
    """(h, w) of every region's style image as seen when the result's longest side is ``longest``."""
    return [fit_longest(*s.size, round(longest * style_scale))[::-1] for r in regions for s in r.styles]


def step_cost(size, tile) -> float:
    """Relative cost of one optimisation step: pixels through the network, and for a tiled
    scale its halos and the extra forward pass that sums the whole image's Grams (tiles.py)."""
    w, h = size
    if tile is None:
        return float(w * h)
    crops = tiles.layout((h, w), tile)
    return 4 / 3 * sum((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in (t.crop for t in crops))


def closing_cost(size, tile) -> float:
    """Relative cost of a tiled scale's closing evaluation of its image (the objective it ends
    with: one forward per tile, a quarter of a step). Untiled, it is one forward of seconds and
    not counted."""
    return step_cost(size, tile) / 4 if tile else 0.0


def setup_cost(size, tile, style_hws) -> float:
    """Relative cost (``step_cost``'s unit) of a scale's setup: one forward pass (≈ 1/3 of a
    forward+backward) of each style image and of the content, with halos when tiled."""
    pixels = sum(h * w for h, w in style_hws) + size[0] * size[1]
    return pixels / 3 * (step_cost(size, tile) * 3 / 4 / (size[0] * size[1]) if tile else 1)
