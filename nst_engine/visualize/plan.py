"""What one visualize run will do, fixed once the images are collected and the network is loaded.

Everything that can be refused is refused here, before minutes of scanning: unit ids the
layer does not have, a picture too large to draw. The plan also carries the cost model that
turns scan and gradient work into one progress fraction.
"""
from __future__ import annotations

from dataclasses import dataclass

from nst_contract.events import bad_input
from nst_contract.requests import VisualizeRequest

from .layout import MAX_PICTURE_PIXELS, Layout


@dataclass
class VisualizePlan:
    req: VisualizeRequest
    wanted_ids: dict  # {layer: [unit, ...] given, or None = chosen by the rule}, in --layers order
    info: dict  # {layer: vgg.LayerInfo}
    sources: list  # sources.Source, at their scan size
    skipped: list  # [{"path", "reason"}]
    n_units: dict  # {layer: units shown}
    layout: Layout
    scan_share: float  # the part of the progress fraction that the scan takes

    @property
    def layers(self) -> list:
        return list(self.wanted_ids)


def check_units(wanted_ids: dict, info: dict) -> None:
    for layer, ids in wanted_ids.items():
        if ids is not None:
            bad = [u for u in ids if u >= info[layer].channels]
            if bad:
                raise bad_input(f"--unit-ids {layer}: unit(s) {', '.join(map(str, bad))} do not exist; "
                                f"{layer} has units 0..{info[layer].channels - 1}")


def _scan_share(req: VisualizeRequest, info: dict, sources: list, n_units: dict) -> float:
    # cost model for ``fraction``: a forward pass costs its pixels; a gradient patch (forward and
    # backward over its crop, up to ~field² pixels) about 3× its crop; drawing a fixed 5 %.
    total_px = float(sum(s.rgb.width * s.rgb.height for s in sources))
    grad_px = 3.0 * sum(min(info[layer].field, req.size) ** 2 * n_units[layer] * req.top
                        for layer in n_units) if req.gradients else 0.0
    return 0.95 * total_px / (total_px + grad_px)


def make_plan(req: VisualizeRequest, wanted_ids: dict, info: dict, sources: list, skipped: list) -> VisualizePlan:
    """``wanted_ids`` from check.check_request, ``info`` the truncated network's layer_info()."""
    check_units(wanted_ids, info)
    n_units = {layer: len(ids) if ids is not None else min(req.units, info[layer].channels)
               for layer, ids in wanted_ids.items()}
    layout = Layout(list(n_units.items()), req.top, req.cell, req.gradients)
    if layout.width * layout.height > MAX_PICTURE_PIXELS:
        raise bad_input(f"the picture would be {layout.width}x{layout.height} px; ask for fewer --units, --top "
                        f"or a smaller --cell")
    return VisualizePlan(req, wanted_ids, info, sources, skipped, n_units, layout,
                _scan_share(req, info, sources, n_units))
