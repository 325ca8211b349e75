"""The facts the engine, the plug-in and the installer share, written once.

Every command's options as plain ``Option`` specs (name, kind, default, choices,
range, help), and the limits and choice lists behind them. The engine's argparse
parser is generated from these specs (``nst_contract.requests.build_parser``), the
request dataclasses take their defaults from them, and the plug-in's procedure
arguments take their ranges from them. Engine-internal tuning (iteration
schedules, tile sizes) stays in the engine.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional, Tuple

# ----------------------------------------------------------------------------- shared facts

# The smallest side the engine works at: VGG pools 4 times before relu5_1, smaller images
# leave no feature map. The plug-in's smallest result side is this too.
MIN_SIDE = 32


def fit_longest(width: int, height: int, longest: int) -> Tuple[int, int]:
    """(w, h) scaled so the longest side is ``longest``, keeping the aspect ratio: the size rule
    of every result, so the plug-in can tell before starting the engine whether a layer works."""
    scale = longest / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))

# The result is the content's own size up to this longest side (above it, the largest size
# that fits, said in the start event).
DEFAULT_MAX_SIZE = 4096


def result_longest(width: int, height: int, size: Optional[int] = None) -> int:
    """The longest side of a stylize result for content of ``width`` x ``height``: ``size``
    (--size) when given, else the content's own, at most DEFAULT_MAX_SIZE. The engine may
    compute less where memory is short (its ``start`` event says so)."""
    return int(size) if size else min(max(int(width), int(height)), DEFAULT_MAX_SIZE)
# The pyramid's coarsest scale (longest side). Below 256 px VGG's deep layers see too little,
# and a 128 px stage gave a worse full-size objective for more time (docs/benchmarks.md, "Schedules compared").
# A preview, which wants a first picture more than the best objective, starts lower.
DEFAULT_COARSEST = 256

MODELS = ("vgg19", "vgg16")
DEFAULT_MODEL = "vgg19"
DEVICES = ("auto", "cpu", "cuda", "mps")
POOLINGS = ("max", "avg")
QUALITIES = ("draft", "balanced", "best")
DEFAULT_QUALITY = "balanced"
PRESERVE_COLOR = ("none", "luminance", "histogram")
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")
# What the VGG computes in and its memory layout; AUTO = the fastest measured here (engine: numerics.py).
AUTO = "auto"
PRECISIONS = ("fp32", "bf16")
LAYOUTS = ("contiguous", "channels-last")
PROGRESS_KINDS = ("json", "bar", "none")
BACKENDS = ("auto", "torch", "onnx")

DEFAULT_CONTENT_LAYER = "relu4_2"
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# Scale-free objective (engine: losses.py): both terms are relative errors, so these weights
# mean the same at any size. With them the Tübingen photo takes on the brush strokes and
# palette of a painting while its buildings stay recognisable; strength 0.5 ⇔ this style weight.
DEFAULT_CONTENT_WEIGHT = 1.0
DEFAULT_STYLE_WEIGHT = 20.0
DEFAULT_TV_WEIGHT = 0.0
STRENGTH_RANGE = (0.0, 1.0)
DEFAULT_STRENGTH = 0.5  # ⇔ DEFAULT_STYLE_WEIGHT


def check_strength(value) -> float:
    """``value`` as a style strength, or ValueError saying what --strength must be (a finite
    number within STRENGTH_RANGE); the engine refuses with this message, the plug-in's slider
    keeps within the range."""
    try:
        strength = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"--strength must be a number, got {value!r}") from None
    low, high = STRENGTH_RANGE
    if not math.isfinite(strength) or strength < low:
        raise ValueError(f"--strength must be a finite number ≥ {low:g}, got {value!r}")
    if not low <= strength <= high:
        raise ValueError(f"--strength must be between {low:g} and {high:g}, got {strength}")
    return strength

# visualize (docs/visualize.md)
DEFAULT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_UNITS = 9
MAX_UNITS = 512
DEFAULT_TOP = 9
MAX_TOP = 100
DEFAULT_SIZE = 256  # longest side at which images are scanned (smaller images are not enlarged)
MAX_SIZE = 1024
DEFAULT_OVERLAP = 0.5  # overlap is a number from 0 to below 1
DEFAULT_CELL = 64  # display side of one patch in the picture
MIN_CELL, MAX_CELL = 8, 512


# ----------------------------------------------------------------------------- option specs

@dataclass(frozen=True)
class Option:
    """One command-line option (or positional argument) and the request field it fills.

    ``kind``: ``str``, ``int``, ``float``, ``flag`` (present = True), ``no_flag`` (present =
    False), ``floats`` / ``names`` (comma-separated), ``region`` (MASK:STYLE[:WEIGHT]) or
    ``unit_ids`` (LAYER=ID,ID,...). ``flags`` empty = positional. ``field`` None = an option
    of the command line only (``--progress``), not part of the request. ``enforce``: the
    parser refuses values outside ``choices`` (False where the engine says it better).
    ``minimum``/``maximum`` are the accepted range (inclusive; overlap's maximum excluded),
    checked by the engine with messages that name the option, and used by front ends."""

    name: str  # the request field (or the argparse dest)
    flags: Tuple[str, ...]
    kind: str = "str"
    default: object = None
    choices: Optional[Tuple[str, ...]] = None
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    help: str = ""
    metavar: Optional[str] = None
    repeat: bool = False  # may be given several times (a list)
    many: bool = False  # positional: one or more
    required: bool = False
    enforce: bool = True
    in_request: bool = True

    @property
    def positional(self) -> bool:
        return not self.flags


def _csv(values) -> str:
    return ",".join(values)


# Options every command has: network, device, reporting, cancellation.
COMMON = (
    Option("model", ("--model",), default=DEFAULT_MODEL, choices=MODELS, enforce=False,
           help=f"{' or '.join(MODELS)} (default {DEFAULT_MODEL})"),
    Option("weights", ("--weights",), help="VGG state dict file (torchvision key names); also NST_WEIGHTS"),
    Option("device", ("--device",), default="auto", choices=DEVICES, enforce=False,
           help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps"),
    Option("threads", ("--threads",), kind="int", minimum=1, help="CPU threads for torch"),
    Option("precision", ("--precision",), default=AUTO, choices=(AUTO, *PRECISIONS),
           help="what the network computes in: auto (the fastest measured on this machine, see `doctor`), "
                + " or ".join(PRECISIONS)),
    Option("layout", ("--layout",), default=AUTO, choices=(AUTO, *LAYOUTS),
           help="the network's memory layout: auto (measured), " + " or ".join(LAYOUTS)),
    Option("progress", ("--progress",), choices=PROGRESS_KINDS, in_request=False,
           help="json: one event per line on stdout; bar: a progress bar (default on a terminal)"),
    Option("watch_stdin", ("--watch-stdin",), kind="flag", default=False, in_request=False,
           help="stop when standard input closes (for front ends that start the engine)"),
)

STYLIZE = (
    Option("content", (), help="content image (any format Pillow reads)", required=True),
    Option("styles", ("--style",), repeat=True, help="style image; repeat to blend several"),
    Option("style_blend", ("--style-blend",), kind="floats", help="blend weights, one per --style, e.g. 0.7,0.3"),
    Option("output", ("-o", "--output"), required=True,
           help="result file (.png keeps alpha); written atomically"),
    Option("mask", ("--mask",), help="grayscale image, content's size: white = stylise, black = keep the content"),
    Option("regions", ("--region",), kind="region", repeat=True, metavar="MASK:STYLE[:WEIGHT]",
           help="a region with its own style; repeat for several"),
    Option("size", ("--size",), kind="int", minimum=MIN_SIDE,
           help=f"longest side of the result (default: content's, at most {DEFAULT_MAX_SIZE}, "
                "or the largest size that fits in memory)"),
    Option("tile", ("--tile",), kind="int", minimum=MIN_SIDE,
           help="optimise scales larger than this many px tile by tile "
                "(default: only where the whole image does not fit in memory)"),
    Option("quality", ("--quality",), default=DEFAULT_QUALITY, choices=QUALITIES,
           help=f"iteration schedule (default {DEFAULT_QUALITY})"),
    Option("iterations", ("--iterations",), kind="int", minimum=1,
           help="iterations at the finest scale (overrides --quality)"),
    Option("strength", ("--strength",), kind="float", minimum=STRENGTH_RANGE[0], maximum=STRENGTH_RANGE[1],
           help=f"0..1 style strength ({DEFAULT_STRENGTH:g} = the default style weight)"),
    Option("content_weight", ("--content-weight",), kind="float", default=DEFAULT_CONTENT_WEIGHT, minimum=0,
           help=f"α (default {DEFAULT_CONTENT_WEIGHT:g})"),
    Option("style_weight", ("--style-weight",), kind="float", minimum=0,
           help=f"β (default {DEFAULT_STYLE_WEIGHT:g})"),
    Option("tv_weight", ("--tv-weight",), kind="float", default=DEFAULT_TV_WEIGHT, minimum=0,
           help=f"total variation (default {DEFAULT_TV_WEIGHT:g})"),
    Option("content_layer", ("--content-layer",), default=DEFAULT_CONTENT_LAYER,
           help=f"default {DEFAULT_CONTENT_LAYER}"),
    Option("style_layers", ("--style-layers",), kind="names", default=DEFAULT_STYLE_LAYERS,
           help=f"comma-separated (default {_csv(DEFAULT_STYLE_LAYERS)})"),
    Option("style_layer_weights", ("--style-layer-weights",), kind="floats", help="one weight per style layer"),
    Option("style_scale", ("--style-scale",), kind="float", default=1.0,
           help="style seen at this × the result's size: 1 keeps brush strokes the same share of the "
                "picture at any size; 0.25 makes them 4× smaller"),
    Option("preserve_color", ("--preserve-color",), default="none", choices=PRESERVE_COLOR),
    Option("pooling", ("--pooling",), default="max", choices=POOLINGS),
    Option("optimizer", ("--optimizer",), default="lbfgs", choices=OPTIMIZERS),
    Option("lr", ("--lr",), kind="float", help="step size (L-BFGS 1.0, Adam 0.02)"),
    Option("init", ("--init",), default="content", choices=INITS),
    Option("seed", ("--seed",), kind="int", default=0, help="makes CPU runs repeatable bit for bit"),
    Option("pyramid", ("--no-pyramid",), kind="no_flag", default=True, help="optimise at full size only"),
    Option("coarsest", ("--coarsest",), kind="int", default=DEFAULT_COARSEST, minimum=MIN_SIDE, metavar="PX",
           help=f"longest side of the pyramid's first, coarsest scale (default {DEFAULT_COARSEST}; "
                "lower gives a first picture sooner, e.g. a preview's)"),
) + COMMON

VISUALIZE = (
    Option("inputs", (), many=True, metavar="IMAGE_OR_FOLDER", required=True,
           help="image files and/or folders of images (folders: their image files, not recursive)"),
    Option("output", ("-o", "--output"), required=True, help="the picture (.png); written atomically"),
    Option("json_output", ("--json",), metavar="PATH",
           help="the JSON index of every patch (default: the picture's name with .json)"),
    Option("layers", ("--layers",), kind="names", default=DEFAULT_LAYERS,
           help=f"comma-separated layer names (default {_csv(DEFAULT_LAYERS)})"),
    Option("units", ("--units",), kind="int", default=DEFAULT_UNITS, minimum=1, maximum=MAX_UNITS,
           help=f"units per layer, those with the highest mean activation over the images (default {DEFAULT_UNITS})"),
    Option("unit_ids", ("--unit-ids",), kind="unit_ids", repeat=True, metavar="LAYER=ID,ID,...",
           help="show these units of LAYER instead (repeat for several layers)"),
    Option("top", ("--top",), kind="int", default=DEFAULT_TOP, minimum=1, maximum=MAX_TOP,
           help=f"patches per unit (default {DEFAULT_TOP})"),
    Option("size", ("--size",), kind="int", default=DEFAULT_SIZE, minimum=MIN_SIDE, maximum=MAX_SIZE,
           help=f"longest side at which images are scanned; smaller ones are not enlarged (default {DEFAULT_SIZE})"),
    Option("overlap", ("--overlap",), kind="float", default=DEFAULT_OVERLAP, minimum=0.0, maximum=1.0,
           help="largest intersection-over-union of two patches of one unit from one image, "
                f"from 0 to below 1 (default {DEFAULT_OVERLAP:g})"),
    Option("cell", ("--cell",), kind="int", default=DEFAULT_CELL, minimum=MIN_CELL, maximum=MAX_CELL,
           help=f"display side of a patch in px (default {DEFAULT_CELL})"),
    Option("gradients", ("--gradients",), kind="flag", default=False,
           help="beside each patch, the gradient of the unit's activation with respect to it"),
    Option("backend", ("--backend",), default="auto", choices=BACKENDS,
           help="scan with torch or onnxruntime; auto: onnxruntime on the CPU, torch on a GPU"),
    Option("pooling", ("--pooling",), default="max", choices=POOLINGS),
    # accepted like every command's, but visualize chooses its own numerics: not in its request
) + tuple(o if o.name not in ("precision", "layout") else replace(o, in_request=False) for o in COMMON)

DOCTOR = tuple(replace(o, in_request=False) for o in COMMON)

# serve reads its jobs from stdin: its --watch-stdin must not start a second reader of stdin
# (EOF ends serve anyway), so it goes to another dest.
SERVE = tuple(replace(o, name="serve_watch_stdin" if o.name == "watch_stdin" else o.name, in_request=False)
              for o in COMMON)

# command -> (its options, one-line help, description)
COMMANDS = {
    "stylize": (STYLIZE, "stylise an image", "Stylise CONTENT with one or more style images."),
    "doctor": (DOCTOR, "check the installation with a tiny real run", None),
    "serve": (SERVE, "run stylize jobs read from stdin, one JSON object per line",
              "Long-lived engine: reads stylize jobs as JSON lines on stdin, reports their events as JSON lines "
              "on stdout (docs/engine-protocol.md). Needs --progress json."),
    "visualize": (VISUALIZE, "the image patches that most excite units of each layer",
                  "For units of each layer, find the image patches (receptive fields) with the highest "
                  "activations over a set of images and draw them into one labelled picture, with a JSON index."),
}


def option(command: str, name: str) -> Option:
    """The spec of ``command``'s option ``name`` (KeyError if it has none)."""
    for opt in COMMANDS[command][0]:
        if opt.name == name:
            return opt
    raise KeyError(f"{command} has no option {name!r}")
