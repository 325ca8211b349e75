"""The plug-in's errors: each is shown to the GIMP user as it is, so each message says what to do.

EngineError is the contract's (nst_contract.events), whose text for the user has a heading
naming the task, advice, the exit status and the engine log's last lines (format_engine_error).
"""
from __future__ import annotations

from typing import Optional

from nst_contract import events


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


class EngineError(events.EngineError, NstError):
    """The contract's one EngineError (code, message, the process's returncode and stderr
    tail), as the GIMP user reads it: str() is the whole text, with a heading naming the
    ``task`` (format_engine_error). Same signature as the contract's, plus ``task``."""

    def __init__(self, code: str, message: str, *, returncode: Optional[int] = None,
                 stderr_tail: str = "", task: str = STYLIZE_TASK):
        super().__init__(code, message, returncode=returncode, stderr_tail=stderr_tail)
        self.task = task

    @classmethod
    def of(cls, error: events.EngineError, task: str = STYLIZE_TASK) -> "EngineError":
        """The contract's error (from nst_contract.process) for the user of ``task``."""
        return cls(error.code, error.message, returncode=error.returncode,
                   stderr_tail=error.stderr_tail, task=task)

    def __str__(self) -> str:
        return format_engine_error(self.message, self.code, self.returncode, self.stderr_tail,
                                   self.task)


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
