"""Seconds saved before the first optimisation step (what a dialog's preview waits for).

torch.optim wraps some ``Optimizer`` methods (``add_param_group``, called by every optimiser's
constructor, and ``zero_grad``) in ``torch._disable_dynamo``, which imports ``torch._dynamo`` on
their first call only to mark them "never compile". That import took 2.3 s of a 2-core AMD
EPYC (more than the VGG's network load and first steps together). The engine never compiles
anything, so each such method is marked as already handled: the wrapper then calls the method
itself. When a torch release changes this mechanism the marks are simply not set and the
import happens as before (tests/engine/test_quick_start.py says so).
"""
from __future__ import annotations

import torch


def skip_dynamo_import() -> int:
    """Mark torch.optim's ``_disable_dynamo`` methods as handled; returns how many were marked."""
    try:  # every wrapper _disable_dynamo makes runs the same code: recognise them by it
        wrapper_code = torch._compile._disable_dynamo(lambda: None).__code__
    except AttributeError:
        return 0
    marked = 0
    for value in vars(torch.optim.Optimizer).values():
        fn = getattr(value, "__wrapped__", None)
        if fn is None or getattr(value, "__code__", None) is not wrapper_code:
            continue
        if getattr(fn, "__dynamo_disable", None) is None:
            setattr(fn, "__dynamo_disable", fn)
        marked += 1
    return marked
