"""The command line: a thin layer over ``stylize()`` (and the other commands).

Every command reports through the same reporters (``--progress json|bar|none``),
turns every ``EngineError`` into an ``error`` event plus its exit code, and
stops cleanly on SIGINT/SIGTERM or, with ``--watch-stdin``, when stdin closes.
"""
from __future__ import annotations

import argparse
import sys
import traceback

from . import cancel as cancel_mod
from .errors import EngineError, bad_input
from .events import make_reporter
from .request import (AUTO, DEFAULT_COARSEST, DEFAULT_CONTENT_LAYER, DEFAULT_CONTENT_WEIGHT, DEFAULT_STYLE_LAYERS,
                      DEFAULT_STYLE_WEIGHT, DEFAULT_TV_WEIGHT, DEFAULT_MAX_SIZE, LAYOUTS, PRECISIONS, QUALITY_ITERATIONS,
                      Region, StylizeRequest)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage mistakes become ``bad_input`` errors (so JSON callers get an event too)."""

    def error(self, message):
        raise bad_input(f"{message}{_dash_hint(message)} (see `{self.prog} --help`)")


def _dash_hint(message: str) -> str:
    """argparse reads anything starting with '-' as an option: say how to pass such a value."""
    if "expected one argument" in message:
        return "; a value that starts with '-' is written --option=VALUE (e.g. --strength=-0.5)"
    if "required: content" in message or "unrecognized arguments" in message:
        return "; an image whose name starts with '-' goes last, after `--` (… -- -name.png), or as ./-name.png"
    return ""


def _floats(text: str) -> list:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")


def _names(text: str) -> list:
    return [v.strip() for v in text.split(",") if v.strip()]


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


def add_common(p: argparse.ArgumentParser, watch_stdin_dest: str = "watch_stdin") -> None:
    """Options every command shares: network, device, reporting, cancellation.

    ``serve`` reads its jobs from stdin, so its ``--watch-stdin`` goes to another ``dest``:
    main() must not start a second reader of stdin for it (EOF ends serve anyway)."""
    p.add_argument("--model", default="vgg19", help="vgg19 (default) or vgg16")
    p.add_argument("--weights", help="VGG state dict file (torchvision key names); also NST_WEIGHTS")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--precision", default=AUTO, choices=(AUTO, *PRECISIONS),
                   help="what the network computes in: auto (the fastest measured on this machine, "
                        "see `doctor`), fp32 or bf16")
    p.add_argument("--layout", default=AUTO, choices=(AUTO, *LAYOUTS),
                   help="the network's memory layout: auto (measured), contiguous or channels-last")
    p.add_argument("--progress", choices=("json", "bar", "none"),
                   help="json: one event per line on stdout; bar: a progress bar (default on a terminal)")
    p.add_argument("--watch-stdin", action="store_true", dest=watch_stdin_dest,
                   help="stop when standard input closes (for front ends that start the engine)")


def _add_stylize(sub) -> None:
    p = sub.add_parser("stylize", help="stylise an image", description="Stylise CONTENT with one or more style images.")
    p.add_argument("content", help="content image (any format Pillow reads)")
    p.add_argument("--style", action="append", default=[], help="style image; repeat to blend several")
    p.add_argument("--style-blend", type=_floats, help="blend weights, one per --style, e.g. 0.7,0.3")
    p.add_argument("-o", "--output", required=True, help="result file (.png keeps alpha); written atomically")
    p.add_argument("--mask", help="grayscale image, content's size: white = stylise, black = keep the content")
    p.add_argument("--region", action="append", type=_region, default=[], metavar="MASK:STYLE[:WEIGHT]",
                   help="a region with its own style; repeat for several")
    p.add_argument("--size", type=int, help=f"longest side of the result (default: content's, at most "
                   f"{DEFAULT_MAX_SIZE}, or the largest size that fits in memory)")
    p.add_argument("--tile", type=int, help="optimise scales larger than this many px tile by tile "
                   "(default: only where the whole image does not fit in memory)")
    p.add_argument("--quality", default="balanced", choices=tuple(QUALITY_ITERATIONS),
                   help="iteration schedule (default balanced)")
    p.add_argument("--iterations", type=int, help="iterations at the finest scale (overrides --quality)")
    p.add_argument("--strength", type=float, help="0..1 style strength (0.5 = the default style weight)")
    p.add_argument("--content-weight", type=float, default=DEFAULT_CONTENT_WEIGHT, help="α (default %(default)s)")
    p.add_argument("--style-weight", type=float, help=f"β (default {DEFAULT_STYLE_WEIGHT:g})")
    p.add_argument("--tv-weight", type=float, default=DEFAULT_TV_WEIGHT, help="total variation (default %(default)s)")
    p.add_argument("--content-layer", default=DEFAULT_CONTENT_LAYER, help="default %(default)s")
    p.add_argument("--style-layers", type=_names, default=list(DEFAULT_STYLE_LAYERS),
                   help=f"comma-separated (default {','.join(DEFAULT_STYLE_LAYERS)})")
    p.add_argument("--style-layer-weights", type=_floats, help="one weight per style layer")
    p.add_argument("--style-scale", type=float, default=1.0,
                   help="style seen at this × the result's size: 1 keeps brush strokes the same share of the "
                        "picture at any size; 0.25 makes them 4× smaller")
    p.add_argument("--preserve-color", default="none", choices=("none", "luminance", "histogram"))
    p.add_argument("--pooling", default="max", choices=("max", "avg"))
    p.add_argument("--optimizer", default="lbfgs", choices=("lbfgs", "adam"))
    p.add_argument("--lr", type=float, help="step size (L-BFGS 1.0, Adam 0.02)")
    p.add_argument("--init", default="content", choices=("content", "noise"))
    p.add_argument("--seed", type=int, default=0, help="makes CPU runs repeatable bit for bit")
    p.add_argument("--no-pyramid", dest="pyramid", action="store_false", help="optimise at full size only")
    p.add_argument("--coarsest", type=int, default=DEFAULT_COARSEST, metavar="PX",
                   help="longest side of the pyramid's first, coarsest scale (default %(default)s; "
                        "lower gives a first picture sooner, e.g. a preview's)")
    add_common(p)
    p.set_defaults(handler=_run_stylize)


def stylize_request(args) -> StylizeRequest:
    """Parsed ``stylize`` options → the request: for the command line and for ``serve``'s job lines."""
    fields = {k: v for k, v in vars(args).items()
              if k in StylizeRequest.__dataclass_fields__ and k not in ("styles", "regions")}
    return StylizeRequest(**fields, styles=args.style, regions=args.region)


def _run_stylize(args, reporter, token) -> int:
    from .transfer import stylize

    req = stylize_request(args)
    result = stylize(req, lambda event: reporter.emit(event.to_event()), token)
    reporter.emit(result.to_event())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nst-engine", description="Neural style transfer engine (Gatys et al.).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_stylize(sub)
    from . import doctor

    doctor.register(sub)
    from . import serve

    serve.register(sub)
    try:
        from . import visualize_cli
    except ImportError:
        visualize_cli = None
    if visualize_cli is not None:
        visualize_cli.register(sub)
    return parser


def _progress_kind(argv) -> str | None:
    """The --progress choice, read before full parsing so even a usage error is reported in JSON."""
    for i, arg in enumerate(argv):
        if arg == "--progress" and i + 1 < len(argv):
            return argv[i + 1] if argv[i + 1] in ("json", "bar", "none") else None
        if arg.startswith("--progress="):
            value = arg.split("=", 1)[1]
            return value if value in ("json", "bar", "none") else None
    return None


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    reporter = make_reporter(_progress_kind(argv))
    try:
        # Signals first: building the parser imports torch (seconds), and a SIGTERM then must
        # still end as a ``cancelled`` event, not as a silent kill.
        token = cancel_mod.install()
        args = build_parser().parse_args(argv)
        token.check()
        cancel_mod.install(getattr(args, "watch_stdin", False), token)
        return args.handler(args, reporter, token)
    except EngineError as exc:
        reporter.emit({"event": "error", "code": exc.code, "message": exc.message})
        return exc.exit_code
    except KeyboardInterrupt:
        reporter.emit({"event": "error", "code": "cancelled", "message": "interrupted; nothing was written"})
        return 130
    except MemoryError:
        reporter.emit({"event": "error", "code": "out_of_memory",
                       "message": "ran out of memory; use a smaller --size"})
        return 4
    except Exception as exc:
        if type(exc).__name__ == "OutOfMemoryError":  # torch's, on a GPU
            reporter.emit({"event": "error", "code": "out_of_memory",
                           "message": f"the device ran out of memory ({exc}); use a smaller --size or --device cpu"})
            return 4
        # A bug: say so, with the traceback on stderr.
        traceback.print_exc()
        reporter.emit({"event": "error", "code": "internal", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    finally:
        reporter.close()
