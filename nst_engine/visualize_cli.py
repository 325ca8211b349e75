"""``nst-engine visualize``: the command-line face of ``visualize()`` (contract: docs/visualize.md)."""
from __future__ import annotations

import argparse
import sys

from .visualize import (DEFAULT_CELL, DEFAULT_LAYERS, DEFAULT_OVERLAP, DEFAULT_SIZE, DEFAULT_TOP, DEFAULT_UNITS,
                        VisualizeRequest)


def _names(text: str) -> list:
    return [v.strip() for v in text.split(",") if v.strip()]


def _unit_ids(text: str) -> tuple:
    """LAYER=ID,ID,... → (layer, [ids])."""
    layer, sep, ids = text.partition("=")
    if not sep or not layer.strip():
        raise argparse.ArgumentTypeError(f"--unit-ids wants LAYER=ID,ID,... (e.g. relu3_1=5,17,40), got {text!r}")
    try:
        values = [int(v) for v in ids.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--unit-ids {layer}: unit ids are whole numbers, got {ids!r}")
    return layer.strip(), values


def register(sub) -> None:
    from .cli import add_common

    p = sub.add_parser(
        "visualize", help="the image patches that most excite units of each layer",
        description="For units of each layer, find the image patches (receptive fields) with the highest "
                    "activations over a set of images and draw them into one labelled picture, with a JSON index.")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER",
                   help="image files and/or folders of images (folders: their image files, not recursive)")
    p.add_argument("-o", "--output", required=True, help="the picture (.png); written atomically")
    p.add_argument("--json", dest="json_output", metavar="PATH",
                   help="the JSON index of every patch (default: the picture's name with .json)")
    p.add_argument("--layers", type=_names, default=list(DEFAULT_LAYERS),
                   help=f"comma-separated layer names (default {','.join(DEFAULT_LAYERS)})")
    p.add_argument("--units", type=int, default=DEFAULT_UNITS,
                   help="units per layer, those with the highest mean activation over the images "
                        "(default %(default)s)")
    p.add_argument("--unit-ids", type=_unit_ids, action="append", default=[], metavar="LAYER=ID,ID,...",
                   help="show these units of LAYER instead (repeat for several layers)")
    p.add_argument("--top", type=int, default=DEFAULT_TOP, help="patches per unit (default %(default)s)")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE,
                   help="longest side at which images are scanned; smaller ones are not enlarged "
                        "(default %(default)s)")
    p.add_argument("--overlap", type=float, default=DEFAULT_OVERLAP,
                   help="largest intersection-over-union of two patches of one unit from one image "
                        "(default %(default)s)")
    p.add_argument("--cell", type=int, default=DEFAULT_CELL, help="display side of a patch in px (default %(default)s)")
    p.add_argument("--gradients", action="store_true",
                   help="beside each patch, the gradient of the unit's activation with respect to it")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"),
                   help="scan with torch or onnxruntime; auto: onnxruntime on the CPU, torch on a GPU")
    p.add_argument("--pooling", default="max", choices=("max", "avg"))
    add_common(p)
    p.set_defaults(handler=run)


def run(args, reporter, token) -> int:
    from .errors import bad_input
    from .visualize import visualize

    unit_ids = {}
    for layer, ids in args.unit_ids:
        if layer in unit_ids:
            raise bad_input(f"--unit-ids names {layer} twice; list all its units in one --unit-ids {layer}=...")
        unit_ids[layer] = ids
    req = VisualizeRequest(
        inputs=args.inputs, output=args.output, json_output=args.json_output, layers=tuple(args.layers),
        units=args.units, unit_ids=unit_ids or None, top=args.top, size=args.size, overlap=args.overlap,
        cell=args.cell, gradients=args.gradients, backend=args.backend, model=args.model, weights=args.weights,
        pooling=args.pooling, device=args.device, threads=args.threads)

    def on_event(event):
        data = event.to_event()
        if data["event"] == "start":
            for s in data["skipped"]:
                print(f"warning: skipped {s['path']}: {s['reason']}", file=sys.stderr, flush=True)
            if data.get("backend_note"):
                print(f"note: {data['backend_note']}; scanning with torch", file=sys.stderr, flush=True)
        reporter.emit(data)

    result = visualize(req, on_event, token)
    reporter.emit(result.to_event())
    return 0
