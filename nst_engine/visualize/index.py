"""The JSON index of the picture (docs/visualize.md), and writing picture and index together.

The index says, for every patch, which image and which pixels it came from and which cell
of the picture holds it, so that a reader (the plug-in) can find a patch without reading
the picture. Picture and index are written atomically, both or neither.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..services import images
from .results import Patch
from .scan import UNIT_RULE

JSON_VERSION = 1


def _patch_json(p: Patch) -> dict:
    d = {"layer": p.layer, "unit": p.unit, "rank": p.rank, "activation": p.activation, "image": p.image,
         "image_index": p.image_index, "position": list(p.position), "box": list(p.box),
         "box_original": list(p.box_original), "cell": list(p.cell)}
    if p.gradient_cell is not None:
        d["gradient_cell"] = list(p.gradient_cell)
    return d


def _layer_json(plan, b: int, layer: str, rows: list) -> dict:
    li, layout = plan.info[layer], plan.layout
    _, block_top, _, block_bottom = layout.blocks[b]
    return {
        "layer": layer, "channels": li.channels, "field": li.field, "stride": li.stride, "offset": li.offset,
        "units_chosen_by": "given" if plan.wanted_ids[layer] is not None else UNIT_RULE,
        "block": [0, block_top, layout.width, block_bottom],
        "units": [{"unit": row.unit, "mean_activation": row.mean, "patches": [_patch_json(p) for p in row.patches]}
                  for row in rows],
    }


def make_index(plan, unit_rows: dict, picture, out_path, weights_source: str, backend: str, note: str) -> dict:
    req = plan.req
    return {
        "version": JSON_VERSION,
        "picture": str(out_path) if out_path else None,
        "picture_size": list(picture.size),
        "model": req.model, "weights": weights_source, "pooling": req.pooling, "backend": backend,
        "backend_note": note,
        "scan_size": req.size, "overlap": req.overlap, "cell": req.cell, "unit_rule": UNIT_RULE,
        "gradients": bool(req.gradients),
        "images": [{"index": i, "path": s.path, "original_size": list(s.original_size),
                    "scan_size": list(s.rgb.size)} for i, s in enumerate(plan.sources)],
        "skipped": plan.skipped,
        "layers": [_layer_json(plan, b, layer, unit_rows[layer]) for b, layer in enumerate(plan.layers)],
    }


def _write_json_atomic(data: dict, path: Path) -> None:
    text = json.dumps(data, indent=1, allow_nan=False) + "\n"
    images.write_atomic(path, lambda fh: fh.write(text.encode("utf-8")))


def write_outputs(picture, out_path: Path, index: dict, json_path: Path) -> None:
    """The picture, then the index; when the index cannot be written the picture is removed again."""
    images.save_atomic(picture, out_path)
    try:
        _write_json_atomic(index, json_path)
    except BaseException:
        out_path.unlink(missing_ok=True)  # both or neither
        raise
