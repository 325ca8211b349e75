"""What a caller asks the engine for, and the same request as a command line.

``StylizeRequest``, ``VisualizeRequest`` and ``Region`` take their defaults from
options.py. ``to_argv`` writes a request as the command's arguments, ``from_argv``
reads them back, and ``build_parser`` is the engine's argparse parser, generated
from the same option specs: a request crosses the process boundary without anyone
building argv by hand, and ``from_argv(cmd, to_argv(r)) == r``. ``option_args`` writes single
options by name the same way (a command's settings; doctor, which has no request).

Where a request holds a path, the engine also accepts a PIL image (the command line,
of course, only paths).
"""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass, field, fields
from typing import Optional

from . import options as o
from .events import EngineError

PROG = "nst-engine"


# ----------------------------------------------------------------------------- requests

@dataclass
class Region:
    """Part of the content (``mask``: path of a grayscale image, None = everywhere) and its style(s)."""

    styles: list
    mask: object = None
    blend: Optional[list] = None
    weight: float = 1.0


@dataclass
class StylizeRequest:
    content: object  # path or PIL image
    output: object = None  # path; None = don't write (the result carries the image)
    styles: list = field(default_factory=list)
    style_blend: Optional[list] = None
    mask: object = None
    regions: list = field(default_factory=list)  # alternative to styles/mask: several Region
    size: Optional[int] = None  # longest side of the result; None = content's, capped at DEFAULT_MAX_SIZE
    tile: Optional[int] = None  # tile core side; None = tile only where the whole image does not fit
    quality: str = o.DEFAULT_QUALITY
    iterations: Optional[int] = None
    strength: Optional[float] = None
    content_weight: float = o.DEFAULT_CONTENT_WEIGHT
    style_weight: Optional[float] = None
    tv_weight: float = o.DEFAULT_TV_WEIGHT
    content_layer: str = o.DEFAULT_CONTENT_LAYER
    style_layers: tuple = o.DEFAULT_STYLE_LAYERS
    style_layer_weights: Optional[list] = None
    style_scale: float = 1.0
    preserve_color: str = "none"
    model: str = o.DEFAULT_MODEL
    weights: object = None
    pooling: str = "max"
    optimizer: str = "lbfgs"
    lr: Optional[float] = None
    init: str = "content"
    seed: int = 0
    pyramid: bool = True
    coarsest: int = o.DEFAULT_COARSEST  # longest side of the pyramid's first scale
    # Keep pixels in [0, 1] after every step, so the objective being minimised is the
    # saved image's. False = the classic unconstrained run, clamped only when saved
    # (the benchmark's reference; not offered on the command line).
    bounded: bool = True
    device: str = "auto"
    threads: Optional[int] = None
    precision: str = o.AUTO  # auto (measured by the engine), fp32 or bf16: what the VGG's layers compute in
    layout: str = o.AUTO  # auto, contiguous or channels-last: the activations' memory layout


@dataclass
class VisualizeRequest:
    inputs: list  # image files and/or folders (paths), or PIL images
    output: object = None  # the picture (.png); None = don't write (the result carries it)
    json_output: object = None  # None = ``output`` with ``.json`` (when output is given)
    layers: tuple = o.DEFAULT_LAYERS
    units: int = o.DEFAULT_UNITS
    unit_ids: Optional[dict] = None  # {layer: [unit, ...]}; layers not named use the rule
    top: int = o.DEFAULT_TOP
    size: int = o.DEFAULT_SIZE
    overlap: float = o.DEFAULT_OVERLAP
    cell: int = o.DEFAULT_CELL
    gradients: bool = False
    backend: str = "auto"  # auto | torch | onnx
    model: str = o.DEFAULT_MODEL
    weights: object = None
    pooling: str = "max"
    device: str = "auto"
    threads: Optional[int] = None


REQUESTS = {"stylize": StylizeRequest, "visualize": VisualizeRequest}


def command_of(request) -> str:
    """The engine command that runs ``request``."""
    for command, cls in REQUESTS.items():
        if type(request) is cls or isinstance(request, cls):
            return command
    raise TypeError(f"not a request: {type(request).__name__}")


# ----------------------------------------------------------------------------- values ↔ text

def _floats(text: str) -> list:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")


def _names(text: str) -> tuple:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _region(text: str) -> Region:
    # MASK:STYLE[:WEIGHT]; Windows drive letters ("C:\\...") make a plain split unsafe, so split from the right.
    parts = text.rsplit(":", 2)
    weight = 1.0
    if len(parts) == 3:
        try:
            weight = float(parts[2])
            mask, style = parts[0], parts[1]
        except ValueError:
            mask, style = text.rsplit(":", 1)
    elif len(parts) == 2:
        mask, style = parts
    else:
        raise argparse.ArgumentTypeError(f"--region wants MASK:STYLE[:WEIGHT], got {text!r}")
    return Region(styles=[style], mask=mask, weight=weight)


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


_PARSE = {"str": None, "int": int, "float": float, "floats": _floats, "names": _names, "region": _region,
          "unit_ids": _unit_ids}


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {value!r}")
    return str(value) if isinstance(value, int) or not math.isfinite(value) else repr(float(value))


def _path(value, what: str) -> str:
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise ValueError(f"{what} holds a {type(value).__name__}, not a path: the command line takes file names")


def _region_text(region: Region) -> str:
    if region.mask is None or len(region.styles) != 1 or region.blend is not None:
        raise ValueError("--region takes one mask file and one style each (MASK:STYLE[:WEIGHT]); "
                         f"this region has mask {region.mask!r} and {len(region.styles)} style(s)")
    text = f"{_path(region.mask, 'a region mask')}:{_path(region.styles[0], 'a region style')}"
    return text if region.weight == 1.0 else f"{text}:{_number(region.weight)}"


def _texts(opt: o.Option, value) -> list:
    """The option's value(s) as text, one per occurrence on the command line."""
    kind = opt.kind
    if kind == "region":
        return [_region_text(r) for r in value]
    if kind == "unit_ids":
        return [f"{layer}={','.join(str(int(u)) for u in ids)}" for layer, ids in value.items()]
    if kind == "floats":
        return [",".join(_number(v) for v in value)]
    if kind == "names":
        return [",".join(value)]
    if kind in ("int", "float"):
        return [_number(value)]
    values = value if (opt.repeat or opt.many) else [value]
    return [_path(v, opt.flags[0] if opt.flags else opt.name) for v in values]


# ----------------------------------------------------------------------------- request ↔ argv

def to_argv(request, always=()) -> list:
    """``request`` as its command's arguments (without the command name): every field that
    differs from its default, plus the fields named in ``always``. ValueError for what the
    command line cannot say (an image instead of a path, ``bounded=False``)."""
    command = command_of(request)
    specs = {opt.name: opt for opt in o.COMMANDS[command][0] if opt.in_request}
    defaults = type(request)(**{f.name: getattr(request, f.name) for f in fields(request)
                                if f.name in ("content", "inputs")})
    args, positional = [], []
    for f in fields(request):
        value, opt = getattr(request, f.name), specs.get(f.name)
        if value == getattr(defaults, f.name) and f.name not in always and not (opt and opt.required):
            continue
        if opt is None:
            raise ValueError(f"{command}'s {f.name}={value!r} cannot be said on the command line")
        if value is None and opt.required:
            raise ValueError(f"{command} needs {(opt.flags or (opt.name,))[-1]} on the command line")
        if opt.positional:
            positional += _texts(opt, value)
        elif opt.kind == "flag":
            args += [opt.flags[-1]] if value else []
        elif opt.kind == "no_flag":
            args += [] if value else [opt.flags[-1]]
        elif value is not None:
            flag = opt.flags[0]  # the first: -o, as the docs and front ends write it
            for text in _texts(opt, value):
                args += [f"{flag}={text}"] if text.startswith("-") else [flag, text]
    if any(p.startswith("-") for p in positional):  # argparse would read it as an option
        return args + ["--", *positional]
    return positional + args


def option_args(command: str, values: dict) -> list:
    """``command``'s options by name ({"model": "vgg16", "device": "cpu"}; None left out) as
    arguments, by their specs: the settings a front end adds to a command, and the options of a
    command without a request (doctor). KeyError for an option the command does not have."""
    args = []
    for name, value in values.items():
        opt = o.option(command, name)
        if value is None:
            continue
        if opt.positional:
            raise ValueError(f"{command}'s {name} is positional: give it with to_argv")
        if opt.kind in ("flag", "no_flag"):
            args += [opt.flags[-1]] if bool(value) == (opt.kind == "flag") else []
            continue
        for text in _texts(opt, value):
            args += [f"{opt.flags[0]}={text}"] if text.startswith("-") else [opt.flags[0], text]
    return args


def from_argv(command: str, argv) -> object:
    """``command``'s arguments → its request; usage mistakes raise ``EngineError('bad_input')``."""
    if command not in REQUESTS:
        raise ValueError(f"{command!r} has no request; commands with one: {', '.join(REQUESTS)}")
    return request_from_args(build_parser().parse_args([command, *argv]))


def request_from_args(args: argparse.Namespace) -> object:
    """The parsed command line (``build_parser().parse_args``) → its command's request."""
    values = {}
    for opt in o.COMMANDS[args.command][0]:
        if not opt.in_request:
            continue
        value = getattr(args, opt.name)
        if opt.kind == "unit_ids":
            value = _unit_id_map(value)
        values[opt.name] = value
    return REQUESTS[args.command](**values)


def _unit_id_map(pairs) -> Optional[dict]:
    unit_ids = {}
    for layer, ids in pairs:
        if layer in unit_ids:
            raise EngineError("bad_input", f"--unit-ids names {layer} twice; list all its units in one "
                                           f"--unit-ids {layer}=...")
        unit_ids[layer] = ids
    return unit_ids or None


# ----------------------------------------------------------------------------- the parser

class _Parser(argparse.ArgumentParser):
    """argparse, but usage mistakes become ``bad_input`` errors (so JSON callers get an event too)."""

    def error(self, message):
        raise EngineError("bad_input", f"{message}{_dash_hint(message)} (see `{self.prog} --help`)")


def _dash_hint(message: str) -> str:
    """argparse reads anything starting with '-' as an option: say how to pass such a value."""
    if "expected one argument" in message:
        return "; a value that starts with '-' is written --option=VALUE (e.g. --strength=-0.5)"
    if "required: content" in message or "unrecognized arguments" in message:
        return "; an image whose name starts with '-' goes last, after `--` (… -- -name.png), or as ./-name.png"
    return ""


def add_option(parser: argparse.ArgumentParser, opt: o.Option) -> None:
    """One option spec → one argparse argument."""
    kw = {"help": opt.help or None}
    if opt.kind in ("flag", "no_flag"):
        action = "store_true" if opt.kind == "flag" else "store_false"
        parser.add_argument(*opt.flags, dest=opt.name, action=action, **kw)
        return
    if opt.metavar:
        kw["metavar"] = opt.metavar
    elif opt.flags and opt.choices is None:  # named after the flag (--style STYLE), not the field
        kw["metavar"] = opt.flags[-1].lstrip("-").upper().replace("-", "_")
    if _PARSE[opt.kind] is not None:
        kw["type"] = _PARSE[opt.kind]
    if opt.choices is not None and opt.enforce:
        kw["choices"] = opt.choices
    if opt.positional:
        parser.add_argument(opt.name, nargs="+" if opt.many else None, **kw)
        return
    if opt.repeat:
        kw.update(action="append", default=[])
    else:
        kw["default"] = opt.default
    if opt.required:
        kw["required"] = True
    parser.add_argument(*opt.flags, dest=opt.name, **kw)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The engine's whole command line, every command, generated from options.COMMANDS."""
    parser = _Parser(prog=prog, description="Neural style transfer engine (Gatys et al.).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command, (specs, help_text, description) in o.COMMANDS.items():
        p = sub.add_parser(command, help=help_text, description=description)
        for opt in specs:
            add_option(p, opt)
    return parser
