"""What a caller asks ``visualize()`` for: the request, its defaults and its limits.

These facts are the engine's side of the contract with the command line and the plug-in
(docs/visualize.md); they stand alone in this module, importing nothing heavy, so that
they can move to the shared contract as one piece.
"""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_UNITS = 9
DEFAULT_TOP = 9
DEFAULT_SIZE = 256  # longest side at which images are scanned (smaller images are not enlarged)
MAX_SIZE = 1024
DEFAULT_OVERLAP = 0.5
DEFAULT_CELL = 64  # display side of one patch in the picture
MIN_CELL, MAX_CELL = 8, 512
MAX_UNITS = 512
MAX_TOP = 100
BACKENDS = ("auto", "torch", "onnx")


@dataclass
class VisualizeRequest:
    inputs: list  # image files and/or folders (paths), or PIL images
    output: object = None  # the picture (.png); None = don't write (the result carries it)
    json_output: object = None  # None = ``output`` with ``.json`` (when output is given)
    layers: tuple = DEFAULT_LAYERS
    units: int = DEFAULT_UNITS
    unit_ids: dict | None = None  # {layer: [unit, ...]}; layers not named use the rule
    top: int = DEFAULT_TOP
    size: int = DEFAULT_SIZE
    overlap: float = DEFAULT_OVERLAP
    cell: int = DEFAULT_CELL
    gradients: bool = False
    backend: str = "auto"  # auto | torch | onnx
    model: str = "vgg19"
    weights: object = None
    pooling: str = "max"
    device: str = "auto"
    threads: int | None = None
