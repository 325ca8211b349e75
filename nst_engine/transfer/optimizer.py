"""The optimiser of each scale, and which scales end with their best image instead of their last.

L-BFGS without a line search, one update per step (so a step is one forward+backward and
cancelling stays prompt); Adam when asked for. At scales above DETAIL_SIDE (few steps each)
a scale ends with the lowest-objective image it evaluated, not necessarily its last: without
a line search L-BFGS can overshoot right after a scale change (measured: 1024 px balanced,
objective 11.8 → 227 at the 5th of 6 steps: noise).
"""
from __future__ import annotations

import math

import torch

from nst_contract.iterations import DETAIL_SIDE
from nst_contract.requests import StylizeRequest

from . import quick_start

LBFGS_HISTORY = 50
# The optimiser itself is left alone after such a rise: it recovers (1024 px of a 2048 px balanced
# job: 11.98 → 21.08 → 8.28 → 6.82). Undoing the rise and restarting L-BFGS (tried, issue 14) threw
# its curvature away, and a fresh L-BFGS's first step is a tiny gradient step (lr / |g|₁): that
# 1024 px scale would have ended at ≈ 11.98, and a 2048 px job's objective was 10.9 instead of 6.2.


def make(req: StylizeRequest, x: torch.Tensor):
    """The optimiser of ``x`` (the image) for one scale."""
    quick_start.skip_dynamo_import()  # 2 s less before the first step (quick_start.py)
    if req.optimizer == "adam":
        return torch.optim.Adam([x], lr=req.lr or 0.02)
    return torch.optim.LBFGS([x], lr=req.lr or 1.0, max_iter=1, history_size=LBFGS_HISTORY,
                             tolerance_grad=-1, tolerance_change=-1)


def keeps_best(size) -> bool:
    """Whether a scale of ``size`` (w, h) ends with its best image: few steps after a scale
    change, where L-BFGS overshoots."""
    return max(size) > DETAIL_SIDE


class Best:
    """The lowest-objective image a scale evaluated, with its terms."""

    def __init__(self):
        self.total, self.image, self.terms = math.inf, None, None

    def offer(self, terms: dict, image) -> None:
        if terms["total"] < self.total:
            self.total, self.image, self.terms = terms["total"], image, dict(terms)
