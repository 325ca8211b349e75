"""``visualize()``: one run, its steps in the order they happen (the package docstring has the method)."""
from __future__ import annotations

import torch

from nst_contract.events import VisualizeStarted
from nst_contract.requests import VisualizeRequest

from ..services import devices
from ..services.cancel import check
from ..services.weights import load_features
from .backends import make_scanner
from .check import check_outputs, check_request
from .results import ProgressClock, VisualizeResult
from .gradients import gradient_patches
from .index import make_index, write_outputs
from .layout import draw
from .plan import make_plan
from .scan import pick_patches, scan
from .sources import collect


def visualize(request: VisualizeRequest, on_progress=None, cancel=None) -> VisualizeResult:
    """Scan ``request.inputs`` and draw the top patches per unit per layer.

    ``on_progress`` gets ``VisualizeStarted`` then ``VisualizeProgress`` objects; ``cancel`` (a
    ``CancelToken``) is checked once per image (and per gradient patch); a cancelled run raises
    ``Cancelled`` and writes nothing.
    """
    report = ProgressClock(on_progress)
    req = request
    wanted_ids = check_request(req)
    out_path, json_path = check_outputs(req)
    sources, skipped = collect(req.inputs, req.size)
    device = devices.pick(req.device)
    if req.threads:
        torch.set_num_threads(int(req.threads))
    net, weights_source = load_features(req.model, req.weights, req.pooling)
    net = net.truncate(list(wanted_ids))
    plan = make_plan(req, wanted_ids, net.layer_info(), sources, skipped)
    net = net.to(device)
    scanner, backend, note = make_scanner(req.backend, net, plan.layers, device, req.threads)
    report.emit(VisualizeStarted(len(sources), skipped, plan.layers, req.units, req.top, req.size, backend,
                                 str(device), req.model, weights_source, note))
    check(cancel)

    best = scan(plan, scanner, report, cancel)
    check(cancel)
    unit_rows = pick_patches(plan, best)
    patches = [p for layer in plan.layers for row in unit_rows[layer] for p in row.patches]
    grads = gradient_patches(plan, net, patches, report, cancel) if req.gradients else {}
    check(cancel)

    picture = draw(plan, unit_rows, grads)
    report.progress("render", 1, 1, 1.0)
    index = make_index(plan, unit_rows, picture, out_path, weights_source, backend, note)
    check(cancel)
    if out_path is not None:
        write_outputs(picture, out_path, index, json_path)
    return VisualizeResult(picture, out_path, json_path, report.elapsed(), backend, index, patches)
