"""Stopping a run cleanly: SIGINT/SIGTERM, or standard input closing.

A front end that starts the engine with a pipe on stdin (and ``--watch-stdin``)
gets the engine stopped when the front end dies: the pipe closes, the watcher
sees EOF. Long loops call ``token.check()`` once per step.
"""
from __future__ import annotations

import os
import signal
import sys
import threading

from nst_contract.events import EngineError


class RunCancelled(EngineError):
    """What ``CancelToken.check`` raises: the contract's ``EngineError`` with code ``cancelled``."""

    def __init__(self, message: str = "cancelled; nothing was written"):
        super().__init__("cancelled", message)


class CancelToken:
    def __init__(self):
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = self.reason or reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise ``RunCancelled`` if a stop was asked for."""
        if self._event.is_set():
            raise RunCancelled(f"{self.reason}; nothing was written")


def check(token: "CancelToken | None") -> None:
    if token is not None:
        token.check()


def install(watch_stdin: bool = False, token: CancelToken | None = None) -> CancelToken:
    """A token set by SIGINT/SIGTERM (and by EOF on stdin when asked); ``token``: one whose
    signal handlers are already installed (``install()`` early, the stdin watcher later)."""
    if token is None:
        token = CancelToken()

        def on_signal(signum, _frame):
            token.cancel(f"stopped by {signal.Signals(signum).name}")

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
    if watch_stdin:
        fd = sys.stdin.fileno()

        def watch():
            # os.read, not sys.stdin.buffer.read: a daemon thread blocked inside the
            # buffered reader holds its lock, and interpreter shutdown then aborts
            # ("could not acquire lock for <stdin> at interpreter shutdown").
            try:
                while os.read(fd, 4096):
                    pass
            except OSError:
                pass
            token.cancel("standard input closed (the parent process went away)")

        threading.Thread(target=watch, name="stdin-watch", daemon=True).start()
    return token
