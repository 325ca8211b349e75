"""What the benchmarks share: the shared images and weights, the machine's description, a timed run.

Imports torch and the engine only inside the functions that need them, so the scripts that drive
the engine as a separate process (networks, preview) run in any Python.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The shared test data (as tests/conftest.py: ../shared beside the checkout, or NST_SHARED).
SHARED = Path(os.environ.get("NST_SHARED", REPO.parent / "shared"))
IMAGES = SHARED / "images"
CONTENT = IMAGES / "tubingen.jpg"
STYLE = IMAGES / "starry_night.jpg"
FIXTURE_WEIGHTS = SHARED / "weights" / "vgg16_features_fixture.pt"
OUT = REPO / "benchmarks" / "out"       # results (ignored by git)

# CPU flags that decide how fast the VGG can run (vector width, FMA, bf16 and matrix units).
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_flags() -> set:
    """The CPU's flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = open("/proc/cpuinfo").read()
        return set(re.search(r"^flags\s*:(.*)$", text, re.M).group(1).split())
    except (OSError, AttributeError):
        return set()


def cpu_description() -> dict:
    """The CPU model (as the engine's calibration cache names it), its logical CPUs, which of
    RELEVANT_FLAGS it has, and torch's CPU capability: what every figure is reported with."""
    import torch
    from nst_engine.transfer import numerics

    flags = cpu_flags()
    return {"model": numerics.device_model(torch.device("cpu")), "cpus": os.cpu_count(),
            "flags": [f for f in RELEVANT_FLAGS if f in flags],
            "missing_flags": [f for f in RELEVANT_FLAGS if f not in flags],
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}


def timed_run(req, scale_iterations=None):
    """Run stylize on ``req`` (a StylizeRequest): (seconds, final total objective, trace), the trace
    (seconds since start, scale, scales, total objective) per step. ``scale_iterations``:
    stylize's own (iterations per scale instead of the quality's schedule)."""
    from nst_engine import stylize

    trace = []
    t0 = time.perf_counter()

    def on_progress(event):
        if hasattr(event, "loss"):
            trace.append((time.perf_counter() - t0, event.scale, event.scales, event.loss["total"]))

    result = stylize(req, on_progress, scale_iterations=scale_iterations)
    return time.perf_counter() - t0, result.loss["total"], trace


def time_to_reach(trace, target):
    """First time at the finest scale whose full-size objective is ≤ target.

    A progress event's loss is that of the image the step started from, so the
    time is the previous event's. Only meaningful for bounded runs, whose images
    are in range (what would be saved) at every step.
    """
    for i, (t, scale, scales, total) in enumerate(trace):
        if scale == scales - 1 and total <= target:
            return trace[i - 1][0] if i else t
    return None
