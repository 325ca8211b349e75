"""Refusing a bad visualize request before any image is decoded or any weights are loaded.

Every message names the flag and what it accepts, so that the command line and the
plug-in (which shows the engine's message) say what to change.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from nst_contract.events import bad_input
from nst_contract.options import BACKENDS, MAX_CELL, MAX_SIZE, MAX_TOP, MAX_UNITS, MIN_CELL, MIN_SIDE, POOLINGS
from nst_contract.requests import VisualizeRequest

from ..services import images
from ..services.vgg import MODELS, available_layers


def _int_in(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise bad_input(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    return int(value)


def check_request(req: VisualizeRequest) -> dict:
    """Validate what can be validated without images or weights; returns {layer: unit ids or None}."""
    if req.model not in MODELS:
        raise bad_input(f"--model must be one of {', '.join(MODELS)}; got {req.model!r}")
    if req.pooling not in POOLINGS:
        raise bad_input(f"--pooling must be {' or '.join(POOLINGS)}; got {req.pooling!r}")
    if req.backend not in BACKENDS:
        raise bad_input(f"--backend must be {', '.join(BACKENDS[:-1])} or {BACKENDS[-1]}; got {req.backend!r}")
    layers = _check_layers(req)
    _int_in("--units", req.units, 1, MAX_UNITS)
    _int_in("--top", req.top, 1, MAX_TOP)
    _int_in("--size", req.size, MIN_SIDE, MAX_SIZE)
    _int_in("--cell", req.cell, MIN_CELL, MAX_CELL)
    try:
        overlap = float(req.overlap)
    except (TypeError, ValueError):
        overlap = float("nan")
    if not 0 <= overlap < 1:
        raise bad_input(f"--overlap must be a number from 0 (no overlap at all) to below 1, got {req.overlap!r}")
    ids = _check_unit_ids(req.unit_ids or {}, layers)
    if req.output is None and req.json_output is not None:
        raise bad_input("a JSON file was asked for without an output picture (-o)")
    return {layer: ids.get(layer) for layer in layers}


def _check_layers(req: VisualizeRequest) -> list:
    names = [n for n in available_layers(req.model) if not n.startswith("pool")]
    layers = list(req.layers or ())
    if not layers:
        raise bad_input("--layers is empty; name at least one layer, e.g. relu3_1")
    unknown = [n for n in layers if n not in names]
    if unknown:
        raise bad_input(f"unknown layer name(s) {', '.join(map(repr, unknown))} for {req.model}; "
                        f"choose from {', '.join(names)}")
    if len(set(layers)) != len(layers):
        raise bad_input(f"--layers names a layer twice: {','.join(layers)}")
    return layers


def _check_unit_ids(unit_ids: dict, layers: list) -> dict:
    """{layer: [unit, ...]} as whole numbers, each layer one of ``layers`` (the channel count is
    checked once the network is loaded: plan.check_units)."""
    ids = {}
    for layer, units in unit_ids.items():
        if layer not in layers:
            raise bad_input(f"--unit-ids names layer {layer!r}, which is not in --layers ({','.join(layers)})")
        units = list(units)
        if not units:
            raise bad_input(f"--unit-ids for {layer} lists no unit")
        for u in units:
            _int_in(f"a unit id of {layer}", u, 0, 1 << 20)
        if len(set(units)) != len(units):
            raise bad_input(f"--unit-ids for {layer} lists a unit twice")
        ids[layer] = [int(u) for u in units]
    return ids


def check_outputs(req: VisualizeRequest) -> tuple:
    """(picture path, JSON path), both None when nothing is to be written; refuses what could not be."""
    if req.output is None:
        return None, None
    inputs = [p for p in req.inputs if isinstance(p, (str, os.PathLike))]
    out = images.check_output_path(req.output, inputs)
    if Image.registered_extensions().get(out.suffix.lower()) != "PNG":
        raise bad_input(f"the picture is written as PNG: give -o a .png name, not {out.name!r}")
    js = Path(req.json_output) if req.json_output is not None else out.with_suffix(".json")
    if js.suffix.lower() != ".json":
        raise bad_input(f"the index file must end in .json, got {js.name!r}")
    if not js.parent.is_dir():
        raise bad_input(f"output folder {str(js.parent)!r} (for {js.name}) does not exist")
    if not os.access(js.parent, os.W_OK):
        raise bad_input(f"output folder {str(js.parent)!r} is not writable")
    if js.resolve() == out.resolve():
        raise bad_input("the JSON file and the picture must be different files")
    return out, js
