"""Neural style transfer engine (Gatys et al.): ``stylize(request, on_progress)``.

The GIMP plug-in drives it through the command line (``python -m nst_engine``),
never by importing it; see docs/engine-protocol.md. The request, its options and the
events are the contract's (``nst_contract``, shared with the plug-in and the installer).
Importing this package loads no torch: only ``stylize`` does, on first use.
"""
from .errors import EngineError
from .request import Progress, Region, Started, StylizeRequest, StylizeResult

__all__ = ["stylize", "StylizeRequest", "Region", "Progress", "Started", "StylizeResult", "EngineError"]
__version__ = "0.1.0"


def __getattr__(name):
    # ``stylize`` imports torch (seconds): only on first use, so that ``python -m nst_engine``
    # can install its SIGTERM handler first (cli.main) and --help never waits for it.
    if name == "stylize":
        from .transfer import stylize

        return stylize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

