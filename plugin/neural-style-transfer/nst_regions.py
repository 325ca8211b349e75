"""Where the plug-in stylises (layer mask, selection, whole layer) and how the result is put back.

Plain byte maths on GIMP's pixel buffers (R'G'B'A u8, one-byte masks), kept out of the GIMP file
so it is tested without GIMP: outside the region the new layer has the source's pixels exactly.
"""
from __future__ import annotations

import re
from typing import Optional, Tuple

from nst_errors import RegionError


REGIONS = ("auto", "mask", "selection", "none")  # the dialog's choices; the first is its default
# The dialog's words for each: (label, what it means, for the help; "" = the label says it).
REGION_WORDS = dict(zip(REGIONS, (
    ("Automatic (mask, else selection, else whole layer)", "the layer mask, else the selection, else the whole layer"),
    ("Layer mask", ""), ("Selection", ""), ("Whole layer", "whole layer"))))
Rect = Tuple[int, int, int, int]  # x, y, width, height


def intersect(a: Rect, b: Rect) -> Optional[Rect]:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2 - x1, y2 - y1)


def choose_region(mode: str, has_layer_mask: bool, selection_bounds: Optional[Rect],
                  layer_rect: Rect) -> str:
    """Which region to use: 'mask', 'selection' or 'none'.

    ``selection_bounds`` is the selection's bounding box in image coordinates, or
    None when the selection is empty; ``layer_rect`` is the layer's (x, y, w, h)
    in image coordinates. ``auto``: the layer mask, else a selection, else the
    whole layer."""
    if mode not in REGIONS:
        raise RegionError(f"Unknown region {mode!r}: use one of {', '.join(REGIONS)}.")
    if mode == "none":
        return "none"
    if mode == "mask":
        if not has_layer_mask:
            raise RegionError("Region is set to \"layer mask\" but the layer has no layer mask. "
                              "Add one (Layer > Mask > Add Layer Mask) or choose another region.")
        return "mask"
    if mode == "selection":
        if selection_bounds is None:
            raise RegionError("Region is set to \"selection\" but the selection is empty. "
                              "Select the area to stylise, or choose another region.")
        if intersect(selection_bounds, layer_rect) is None:
            raise RegionError("The selection does not overlap the layer: nothing to stylise.")
        return "selection"
    # auto
    if has_layer_mask:
        return "mask"
    if selection_bounds is not None:
        if intersect(selection_bounds, layer_rect) is None:
            raise RegionError("The selection does not overlap the layer: nothing to stylise. "
                              "Select part of the layer, or Select > None for the whole layer.")
        return "selection"
    return "none"


def selection_rect_in_layer(selection_bounds: Rect, layer_rect: Rect) -> Optional[Rect]:
    """The selection's bounding box in layer coordinates, clipped to the layer."""
    r = intersect(selection_bounds, layer_rect)
    if r is None:
        return None
    return (r[0] - layer_rect[0], r[1] - layer_rect[1], r[2], r[3])


def crop_plane(data: bytes, width: int, height: int, rect: Rect, fill: int = 0) -> bytes:
    """Cut ``rect`` (x, y, w, h; may stick out) from a one-byte-per-pixel plane."""
    x, y, w, h = rect
    out = bytearray([fill]) * (w * h)
    inter = intersect((0, 0, width, height), rect)
    if inter is None:
        return bytes(out)
    ix, iy, iw, ih = inter
    for row in range(iy, iy + ih):
        src = row * width + ix
        dst = (row - y) * w + (ix - x)
        out[dst:dst + iw] = data[src:src + iw]
    return bytes(out)


def mask_is_empty(mask: bytes) -> bool:
    return not mask.strip(b"\x00")


_ZERO_RUNS = re.compile(b"\x00+")


def compose_result(result_rgba: bytes, source_rgba: bytes, mask: Optional[bytes]) -> bytes:
    """The new layer's pixels (R'G'B'A u8).

    Inside the region: the engine's colours; outside it (mask value 0): the source's
    pixels exactly. The alpha is always the source's, so transparent parts of the
    source stay transparent."""
    n = len(source_rgba) // 4
    if len(result_rgba) != len(source_rgba):
        raise ValueError(f"result has {len(result_rgba)} bytes, source {len(source_rgba)}")
    out = bytearray(result_rgba)
    out[3::4] = source_rgba[3::4]
    if mask is not None:
        if len(mask) != n:
            raise ValueError(f"mask has {len(mask)} pixels, layer {n}")
        for m in _ZERO_RUNS.finditer(mask):
            a, b = 4 * m.start(), 4 * m.end()
            out[a:b] = source_rgba[a:b]
    return bytes(out)
