"""One exception type for everything a user can get wrong or that stops a run.

Each error carries a stable ``code`` (the JSON-lines ``error`` event's code) and
an exit status, so the command line and the plug-in never parse messages.
"""

EXIT_CODES = {
    "internal": 1,
    "bad_input": 2,
    "weights_missing": 3,
    "out_of_memory": 4,
    "disk_full": 5,
    "cancelled": 130,
}


class EngineError(Exception):
    """A failure with a message that says what to do."""

    def __init__(self, code: str, message: str):
        if code not in EXIT_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.code]


def bad_input(message: str) -> EngineError:
    return EngineError("bad_input", message)


class Cancelled(EngineError):
    def __init__(self, message: str = "cancelled; nothing was written"):
        super().__init__("cancelled", message)
