"""What a caller asks ``visualize()`` for: the request, its defaults and its limits.

They are the contract's (nst_contract: written once for the engine, its command line and the
plug-in); this module names them for the engine's visualize package.
"""
from nst_contract.options import (BACKENDS, DEFAULT_CELL, DEFAULT_LAYERS, DEFAULT_OVERLAP,  # noqa: F401
                                  DEFAULT_SIZE, DEFAULT_TOP, DEFAULT_UNITS, MAX_CELL, MAX_SIZE, MAX_TOP,
                                  MAX_UNITS, MIN_CELL)
from nst_contract.requests import VisualizeRequest  # noqa: F401
