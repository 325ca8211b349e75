"""Neural style transfer engine (Gatys et al.): ``stylize(request, on_progress)``.

The GIMP plug-in drives it through the command line (``python -m nst_engine``),
never by importing it; see docs/engine-protocol.md.
"""
from .errors import EngineError
from .request import Progress, Region, Started, StylizeRequest, StylizeResult
from .transfer import stylize

__all__ = ["stylize", "StylizeRequest", "Region", "Progress", "Started", "StylizeResult", "EngineError"]
__version__ = "0.1.0"

