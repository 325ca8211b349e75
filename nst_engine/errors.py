"""One exception type for everything a user can get wrong or that stops a run.

``EngineError``, its codes and their exit statuses (``EXIT_CODES``) are the contract's
(nst_contract/events.py): the command line, the plug-in and the installer share them
and never parse messages. ``Cancelled`` is the engine's shorthand for its code.
"""
from nst_contract.events import EXIT_CODES, EngineError, Error, bad_input

__all__ = ["EXIT_CODES", "EngineError", "bad_input", "Cancelled", "failure"]


class Cancelled(EngineError):
    def __init__(self, message: str = "cancelled; nothing was written"):
        super().__init__("cancelled", message)


def failure(exc: BaseException) -> Error:
    """The ``error`` event for whatever ended a command (cli) or a serve job: one wording for
    both. ``internal`` is a bug (its caller prints the traceback)."""
    if isinstance(exc, EngineError):
        return Error(exc.code, exc.message)
    if isinstance(exc, KeyboardInterrupt):
        return Error("cancelled", "interrupted; nothing was written")
    if isinstance(exc, MemoryError):
        return Error("out_of_memory", "ran out of memory; use a smaller --size")
    if type(exc).__name__ == "OutOfMemoryError":  # torch's, on a GPU (torch is not imported here)
        return Error("out_of_memory", f"the device ran out of memory ({exc}); use a smaller --size or --device cpu")
    return Error("internal", f"{type(exc).__name__}: {exc}")
