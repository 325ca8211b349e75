"""``stylize()``: Gatys et al.'s pixel-space optimisation, coarse to fine.

1. check the request and load the images, every mistake a clear ``bad_input`` (planning.py);
2. pick a device, load the VGG truncated after the deepest layer needed (reuse.py), and
   refuse a job that would not fit in memory, saying what size would (budget.py);
3. optimise at each pyramid scale, small first, then upsample and refine (run.py, with
   optimizer.py), the style statistics of every region computed inside that region only
   (objective.py; tiled where a scale does not fit, tiles.py);
4. put back what the user asked to keep — content colours, outside-region pixels, gray,
   alpha — and write the result atomically (render.py).

Importing this package imports torch; ``nst_engine.stylize`` does so only on first use.
"""
from ..images import MIN_SIDE
from .budget import _scale_need, _step_cost, _style_hws
from .objective import Objective, _style_views, region_targets, style_grams
from .planning import LoadedRegion, Plan, _schedule, plan, pyramid_scales
from .reuse import Reuse, network
from .run import stylize

__all__ = ["stylize", "plan", "pyramid_scales", "Plan", "LoadedRegion", "Objective", "region_targets",
           "style_grams", "Reuse", "network", "MIN_SIDE"]
# Also here, for numerics.estimates, the tests and the benchmarks: _schedule, _step_cost,
# _style_hws, _scale_need, _style_views (the engine's own, not an API).
