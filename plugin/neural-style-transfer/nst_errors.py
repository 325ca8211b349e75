"""The plug-in's errors: each is shown to the GIMP user as it is, so each message says what to do.

EngineError turns the engine's error event (code, message) into the user's text with a heading
naming the task, advice, the exit status and the engine log's last lines (format_engine_error).
"""
from __future__ import annotations

from typing import Optional


INSTALL_HINT = ("Run `python install.py` from the gimp-neural-style project folder "
                "(it installs the engine and writes this file), then try again.")
# What each engine command is called in messages and progress texts.
STYLIZE_TASK = "style transfer"
VISUALIZE_TASK = "network visualization"


class NstError(Exception):
    """An error to show to the user as it is (the message says what to do)."""


class ConfigError(NstError):
    pass


class RegionError(NstError):
    pass


class EngineError(NstError):
    def __init__(self, message: str, code: str = "internal", exit_code: Optional[int] = None,
                 stderr_tail: str = "", task: str = STYLIZE_TASK):
        self.code = code
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail
        self.engine_message = message
        self.task = task
        super().__init__(format_engine_error(message, code, exit_code, stderr_tail, task))


class Cancelled(NstError):
    pass


def format_engine_error(message: str, code: str = "internal", exit_code: Optional[int] = None,
                        stderr_tail: str = "", task: str = STYLIZE_TASK) -> str:
    """The user's error text: a heading by error code naming the task ("style transfer",
    "network visualization"), the engine's message, advice, exit status and log tail."""
    head = {
        "bad_input": f"The {task} engine rejected the input",
        "weights_missing": f"The {task} engine has no network weights",
        "out_of_memory": ("The image is too large for this computer" if task == STYLIZE_TASK
                          else f"The {task} does not fit in this computer's memory"),
        "disk_full": "There is not enough free disk space to save the result",
        "cancelled": f"The {task} was cancelled",
        "internal": f"The {task} engine failed",
    }.get(code, f"The {task} engine failed")
    text = f"{head}: {message.strip() or 'no message'}"
    if code == "weights_missing":
        text += f"\n{INSTALL_HINT}"
    if exit_code is not None and exit_code != 0:
        text += f"\n(engine exit status {exit_code})"
    if stderr_tail.strip():
        text += "\n\nEngine log (last lines):\n" + stderr_tail.rstrip()
    return text
