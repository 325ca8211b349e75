"""``visualize()``: the image patches that most excite units of the network, per layer.

Zeiler & Fergus's first visualisation, forward-only; one module per step:

1. check the request (check.py; its defaults and limits: nst_contract.options) and collect the images,
   files and folders, unreadable ones skipped and reported (sources.py);
2. load the VGG truncated after the deepest requested layer and fix the plan: units per layer,
   the picture's layout, the progress cost model (plan.py, layout.py);
3. scan every image once (backends.py: onnxruntime on the CPU where it measures faster, else
   torch) and keep, per layer and unit (channel), the K best activations over all positions
   of all images, with non-maximum suppression inside each image (suppress.py: two patches
   of one unit from one image never overlap by more than ``overlap`` intersection-over-union),
   and each unit's mean activation over the whole set (scan.py);
4. choose the units (the N with the highest mean activation, or the ones asked for) and cut
   each patch — the unit's exact receptive field from ``VGGFeatures.layer_info`` (fields.py),
   clipped at the border — out of the scanned image (scan.py), optionally with the gradient
   of the unit's activation with respect to the patch (gradients.py);
5. draw one labelled block per layer into a single picture (layout.py) and write the picture
   and a JSON index atomically (index.py). pipeline.py holds ``visualize()``, these steps in order.

The unit of work for progress and cancellation is one image.

Importing this package loads no torch: its names load on first use, so that the
command line's ``--help`` does not pay for loading torch.
"""
from __future__ import annotations

from importlib import import_module

# name -> the module of this package that defines it (the request, its defaults and the events
# are the contract's: nst_contract.requests.VisualizeRequest, nst_contract.options, nst_contract.events)
_LAZY = {
    "visualize": "pipeline", "VisualizeResult": "results", "Patch": "results",
    "check_request": "check", "collect": "sources",
    "field_box": "fields", "field_crop": "fields", "image_top": "suppress", "choose_units": "scan",
    "make_scanner": "backends", "gradient_patch": "gradients", "MAX_PICTURE_PIXELS": "layout",
    "JSON_VERSION": "index", "UNIT_RULE": "scan",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
