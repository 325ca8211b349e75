"""The engine's iteration schedules: which pyramid scales a result is optimised at, and how many
steps each gets.

Written here (standard library) so that the plug-in can say what a preset costs from the same
numbers the engine runs (nst_progress derives its typical times from them); the engine's
transfer/schedule.py reads them from here and adds the cost model.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

from .options import DEFAULT_COARSEST, MIN_SIDE, QUALITIES

# Iterations at the finest scale. Each coarser scale gets COARSE_SHARE of that: the
# coarse scales only have to lay out the large shapes (big swirls, where the colour
# masses go). More coarse iterations do not help the full-size result, because the
# fine texture they build is lost when the image is upsampled (measured at 512 px,
# docs/benchmarks.md: 200/100/50 iterations at 128/256/512 px ran 93 s and ended
# above the objective that 30/50 at 256/512 px reached after 54.5 s).
QUALITY_ITERATIONS: Dict[str, int] = dict(zip(QUALITIES, (20, 50, 150)))
COARSE_SHARE = 0.6
# Scales above DETAIL_SIDE only refine the detail the coarser scales laid out, and each of their
# steps costs 4x the previous scale's: the first such scale gets FINE_ITERATIONS[quality] and
# each further doubling half as many (at least 1). A 2048 px balanced run: 30/30/6/3 at
# 256/512/1024/2048 px, so most of the time goes where it is cheap.
DETAIL_SIDE = 512
FINE_ITERATIONS: Dict[str, int] = dict(zip(QUALITIES, (2, 6, 20)))
# --no-pyramid: one scale, the result's size.
SINGLE_SCALE_ITERATIONS: Dict[str, int] = dict(zip(QUALITIES, (100, 300, 600)))


def pyramid_scales(size: Tuple[int, int], n: int) -> List[Tuple[int, int]]:
    """``n`` sizes, coarse → fine, each half the next; the last is ``size``."""
    w, h = size
    return [(max(1, round(w / 2 ** j)), max(1, round(h / 2 ** j))) for j in reversed(range(n))]


def deepest(size: Tuple[int, int]) -> int:
    """The most pyramid scales a result of ``size`` can have: each half the next, the coarsest's
    shorter side still MIN_SIDE or more (the network's smallest input)."""
    n = 1
    while min(pyramid_scales(size, n + 1)[0]) >= MIN_SIDE:
        n += 1
    return n


def schedule(size: Tuple[int, int], quality: str, iterations: Optional[int] = None,
             coarsest: int = DEFAULT_COARSEST, pyramid: bool = True,
             scale_iterations: Optional[Sequence[int]] = None) -> Tuple[list, list]:
    """(pyramid scales coarse → fine, iterations at each) of a result of ``size`` (w, h).

    Up to DETAIL_SIDE: QUALITY_ITERATIONS at the finest of those scales (``iterations`` when
    given), COARSE_SHARE of it at the coarser ones. Above it: FINE_ITERATIONS[quality], halved at
    each further doubling (the finest scale gets exactly ``iterations`` when given).
    ``scale_iterations`` (a caller's own schedule, coarse → fine) replaces both: as many scales
    as it has entries, the last at ``size``, each half the next (at most ``deepest(size)``)."""
    if scale_iterations is not None:
        return pyramid_scales(size, len(scale_iterations)), list(scale_iterations)
    w, h = size
    n = 1
    if pyramid and max(w, h) >= 2 * coarsest:  # halvings down to coarsest on the longer side, none under MIN_SIDE
        n = min(1 + int(math.log2(max(w, h) / coarsest)), deepest(size))
    if n == 1:
        return [(w, h)], [iterations or (QUALITY_ITERATIONS if pyramid else SINGLE_SCALE_ITERATIONS)[quality]]
    scales = pyramid_scales(size, n)
    fine = [s for s in scales if max(s) > DETAIL_SIDE and s != scales[0]]
    finest = iterations or QUALITY_ITERATIONS[quality]
    coarse = max(1, round(finest * COARSE_SHARE))
    detail = scales[:len(scales) - len(fine)]
    steps = [coarse] * (len(detail) - 1) + [finest if not fine else coarse]
    for j in range(len(fine)):
        steps.append(max(1, round(FINE_ITERATIONS[quality] / 2 ** j)))
    if fine and iterations:  # asked for: the finest scale gets exactly that many
        steps[-1] = iterations
    return scales, steps
