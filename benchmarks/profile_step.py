"""Where one optimisation step's time goes: torch.profiler around a real stylize() step.

    python -m benchmarks.profile_step --size 512 [--precision fp32] [--layout contiguous]

Runs stylize() single-scale for a few steps and profiles one of them (the third: the first
includes loading and the targets, the second warms up). The step's operators are grouped into
the VGG's own work (convolutions, ReLU, pooling, the input normalisation, forward and backward),
the Gram matrices and losses, the optimiser (L-BFGS's vector updates), resizing, and the rest;
what the profiler does not see in any operator is Python between them. Prints the groups'
shares of the step's wall time.
"""
from __future__ import annotations

import argparse
import re
import time

import torch
from torch.profiler import ProfilerActivity, profile, schedule

from benchmarks.common import CONTENT, FIXTURE_WEIGHTS, STYLE
from nst_contract.requests import StylizeRequest
from nst_engine import stylize

# Operator name patterns → group; first match wins. Self times are summed per group.
GROUPS = [
    ("VGG convolutions", r"conv|mkldnn"),
    ("VGG ReLU / pooling", r"relu|clamp_min|threshold|max_pool|avg_pool"),  # ReLU runs as clamp_min
    ("Gram products", r"aten::(mm|bmm|matmul|addmm)$"),
    ("resizing", r"upsample|interpolate"),
    ("optimiser (L-BFGS vectors)", r"aten::(dot|add_|mul_|div_|neg|clone|sub_|copy_|clamp_?|zero_|lerp_)$"),
    ("losses, normalisation, other tensor ops", r"aten::"),
    ("other", r""),
]


def profile_one_step(req: StylizeRequest):
    """(the profiled step's operator averages, its wall seconds)."""
    marks, traces = [], []
    prof = profile(activities=[ProfilerActivity.CPU], schedule=schedule(wait=1, warmup=1, active=1, repeat=1),
                   on_trace_ready=lambda p: traces.append(p.key_averages()))

    def on_progress(event):
        if hasattr(event, "loss"):
            marks.append(time.perf_counter())
            prof.step()

    with prof:
        stylize(req, on_progress)
    return traces[0], marks[2] - marks[1]


def breakdown(averages, wall: float) -> list:
    """[(group, seconds, share of the step's wall time)], plus Python between operators."""
    totals = {name: 0.0 for name, _ in GROUPS}
    for avg in averages:
        for name, pattern in GROUPS:
            if re.search(pattern, avg.key):
                totals[name] += avg.self_cpu_time_total / 1e6
                break
    rows = [(name, s, s / wall) for name, s in totals.items() if s > 0]
    rest = wall - sum(s for _, s, _ in rows)
    rows.append(("Python between operators (wall − operators)", rest, rest / wall))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--content", default=str(CONTENT))
    ap.add_argument("--style", default=str(STYLE))
    ap.add_argument("--model", default="vgg16")
    ap.add_argument("--weights", default=str(FIXTURE_WEIGHTS))
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--layout", default="auto")
    ap.add_argument("--top", type=int, default=15, help="also print the top operators")
    args = ap.parse_args()
    extra = {k: getattr(args, k) for k in ("precision", "layout")
             if k in StylizeRequest.__dataclass_fields__}  # older engines have neither
    req = StylizeRequest(content=args.content, styles=[args.style], size=args.size, model=args.model,
                         weights=args.weights, device="cpu", pyramid=False, iterations=4, **extra)
    averages, wall = profile_one_step(req)
    print(f"one L-BFGS step at {args.size} px: {wall:.3f} s wall ({torch.get_num_threads()} threads)")
    for name, seconds, share in breakdown(averages, wall):
        print(f"  {name:<45} {seconds:7.3f} s  {share:6.1%}")
    print(averages.table(sort_by="self_cpu_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()
