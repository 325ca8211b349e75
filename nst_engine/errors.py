"""One exception type for everything a user can get wrong or that stops a run.

``EngineError``, its codes and their exit statuses (``EXIT_CODES``) are the contract's
(nst_contract/events.py): the command line, the plug-in and the installer share them
and never parse messages. ``Cancelled`` is the engine's shorthand for its code.
"""
from nst_contract.events import EXIT_CODES, EngineError, bad_input

__all__ = ["EXIT_CODES", "EngineError", "bad_input", "Cancelled"]


class Cancelled(EngineError):
    def __init__(self, message: str = "cancelled; nothing was written"):
        super().__init__("cancelled", message)
