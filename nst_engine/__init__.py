"""Neural style transfer engine (Gatys et al.): ``stylize(request, on_progress)``.

The GIMP plug-in drives it through the command line (``python -m nst_engine``),
never by importing it; see docs/engine-protocol.md. The request, its options and the
events are the contract's (``nst_contract``, shared with the plug-in and the installer).
Importing this package loads no torch: only ``stylize`` does, on first use.

Three layers, each importing only the ones below it (tests/engine/test_layout.py checks it):

- front doors: ``cli`` (``python -m nst_engine``), ``serve``, ``doctor``, ``visualize_cli``;
- jobs: ``transfer/`` (stylisation, and everything only it uses) and ``visualize/``;
- shared services: ``services/`` (the VGG and its weights, images, devices, cancel, reporters).
"""
__all__ = ["stylize"]
__version__ = "0.1.0"


def __getattr__(name):
    # ``stylize`` imports torch (seconds): only on first use, so that ``python -m nst_engine``
    # can install its SIGTERM handler first (cli.main) and --help never waits for it.
    if name == "stylize":
        from .transfer import stylize

        return stylize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

