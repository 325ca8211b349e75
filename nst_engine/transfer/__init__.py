"""``stylize()``: Gatys et al.'s pixel-space optimisation, coarse to fine.

1. check the request and load the images, every mistake a clear ``bad_input`` (planning.py);
2. pick a device, load the VGG truncated after the deepest layer needed (reuse.py, in the
   numerics measured fastest here, numerics.py), and plan the job with it: refuse one that
   would not fit in memory, saying what size would (planning.plan, budget.py, memory.py);
3. optimise at each pyramid scale (schedule.py), small first, then upsample and refine
   (coarse_to_fine.py, with optimizer.py), the style statistics of every region computed
   inside that region only (objective.py, losses.py; tiled where a scale does not fit, tiles.py);
4. put back what the user asked to keep — content colours (color.py), outside-region pixels,
   gray, alpha — and write the result atomically (render.py).

Everything in this package serves stylisation alone; what other jobs share is in ../services.
Importing this package imports torch; ``nst_engine.stylize`` does so only on first use.
"""
from .coarse_to_fine import stylize

__all__ = ["stylize"]
