"""The command line: a thin layer over ``stylize()`` (and the other commands).

The parser is the contract's (``nst_contract.requests.build_parser``, generated from
the option specs); each command's handler is imported only when it runs, so ``--help``
and usage errors never load torch, and no command module imports this one. Every
command reports through the same reporters (``--progress json|bar|none``), turns every
``EngineError`` into an ``error`` event plus its exit code (``EXIT_CODES``), and stops
cleanly on SIGINT/SIGTERM or, with ``--watch-stdin``, when stdin closes.
"""
from __future__ import annotations

import importlib
import sys
import traceback

from nst_contract.events import EXIT_CODES
from nst_contract.options import PROGRESS_KINDS
from nst_contract.requests import build_parser, request_from_args

from .services import cancel as cancel_mod
from .services.reporters import failure, make_reporter

# command -> "module:function" (relative to this package), called as function(args, reporter, token) -> status
HANDLERS = {
    "stylize": "cli:run_stylize",
    "doctor": "doctor:run",
    "serve": "serve:run",
    "visualize": "visualize_cli:run",
}


def run_stylize(args, reporter, token) -> int:
    from .transfer import stylize

    result = stylize(request_from_args(args), lambda event: reporter.emit(event.to_event()), token)
    reporter.emit(result.to_event())
    return 0


def handler(command: str):
    """The function that runs ``command`` (its module imported now, not before)."""
    module, function = HANDLERS[command].split(":")
    return getattr(importlib.import_module(f".{module}", __package__), function)


def _progress_kind(argv) -> str | None:
    """The --progress choice, read before full parsing so even a usage error is reported in JSON."""
    for i, arg in enumerate(argv):
        if arg == "--progress" and i + 1 < len(argv):
            return argv[i + 1] if argv[i + 1] in PROGRESS_KINDS else None
        if arg.startswith("--progress="):
            value = arg.split("=", 1)[1]
            return value if value in PROGRESS_KINDS else None
    return None


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    reporter = make_reporter(_progress_kind(argv))
    try:
        # Signals first: a command's handler imports torch (seconds), and a SIGTERM then must
        # still end as a ``cancelled`` event, not as a silent kill.
        token = cancel_mod.install()
        args = build_parser().parse_args(argv)
        token.check()
        cancel_mod.install(getattr(args, "watch_stdin", False), token)
        return handler(args.command)(args, reporter, token)
    except (Exception, KeyboardInterrupt) as exc:
        error = failure(exc)
        if error.code == "internal":  # a bug: say so, with the traceback on stderr
            traceback.print_exc()
        reporter.emit(error.to_event())
        return EXIT_CODES[error.code]
    finally:
        reporter.close()
