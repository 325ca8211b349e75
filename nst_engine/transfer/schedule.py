"""What a caller asks for, what it hears while waiting, what it gets; and the engine's tuning.

The request (``StylizeRequest``, ``Region``), its defaults and limits and the events
(``Started``, ``Progress``) are the contract's (nst_contract), shared with the plug-in;
they are re-exported here for the engine's modules. What stays here is the engine's
own: the tile sizes, the iteration schedules, and the result it hands back in-process.
"""
from __future__ import annotations

from dataclasses import dataclass

from nst_contract.events import Done, Progress, Started
from nst_contract.options import (AUTO, DEFAULT_COARSEST, DEFAULT_CONTENT_LAYER, DEFAULT_CONTENT_WEIGHT,
                                  DEFAULT_MAX_SIZE, DEFAULT_STYLE_LAYERS, DEFAULT_STYLE_WEIGHT, DEFAULT_TV_WEIGHT,
                                  LAYOUTS, PRECISIONS, QUALITIES)
from nst_contract.requests import Region, StylizeRequest

__all__ = ["AUTO", "DEFAULT_COARSEST", "DEFAULT_CONTENT_LAYER", "DEFAULT_CONTENT_WEIGHT", "DEFAULT_MAX_SIZE",
           "DEFAULT_STYLE_LAYERS", "DEFAULT_STYLE_WEIGHT", "DEFAULT_TV_WEIGHT", "LAYOUTS", "PRECISIONS",
           "TILE_SIZE", "MIN_TILE_SIZE", "QUALITY_ITERATIONS", "COARSE_SHARE", "DETAIL_SIDE", "FINE_ITERATIONS",
           "SINGLE_SCALE_ITERATIONS", "strength_to_style_weight", "Region", "StylizeRequest", "Started",
           "Progress", "StylizeResult"]

# Tiles: a scale whose whole-image pass does not fit in the memory measured free is computed
# tile by tile (tiles.py), with cores of TILE_SIZE px, halved down to MIN_TILE_SIZE until it fits.
TILE_SIZE = 1024
MIN_TILE_SIZE = 256

# Iterations at the finest scale. Each coarser scale gets COARSE_SHARE of that: the
# coarse scales only have to lay out the large shapes (big swirls, where the colour
# masses go). More coarse iterations do not help the full-size result, because the
# fine texture they build is lost when the image is upsampled (measured at 512 px,
# README "Benchmarks": 200/100/50 iterations at 128/256/512 px ran 93 s and ended
# above the objective that 30/50 at 256/512 px reached after 54.5 s).
QUALITY_ITERATIONS = dict(zip(QUALITIES, (20, 50, 150)))
COARSE_SHARE = 0.6
# Scales above DETAIL_SIDE only refine the detail the coarser scales laid out, and each of their
# steps costs 4x the previous scale's: the first such scale gets FINE_ITERATIONS[quality] and
# each further doubling half as many (at least 1). A 2048 px balanced run: 30/30/6/3 at
# 256/512/1024/2048 px, so most of the time goes where it is cheap (README "Full size").
DETAIL_SIDE = 512
FINE_ITERATIONS = dict(zip(QUALITIES, (2, 6, 20)))
SINGLE_SCALE_ITERATIONS = dict(zip(QUALITIES, (100, 300, 600)))


def strength_to_style_weight(strength: float) -> float:
    """0..1 slider → style weight, log-scaled: 0.5 is the default, each ±1/3 is ×10."""
    return DEFAULT_STYLE_WEIGHT * 10 ** (3.0 * (strength - 0.5))


@dataclass
class StylizeResult:
    """``stylize()``'s answer in-process (the image itself); its ``done`` event for the others."""

    image: object  # PIL image, as written
    output: object
    seconds: float
    loss: dict
    size: tuple

    def to_event(self) -> dict:
        return Done(str(self.output) if self.output else None, round(self.seconds, 3), self.loss,
                    list(self.size)).to_event()
