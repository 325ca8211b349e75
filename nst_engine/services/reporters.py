"""Reporting progress events: JSON lines for programs, a progress bar for people.

Events are plain dicts with an ``"event"`` key (``start``, ``progress``, ``done``,
``error``; see docs/engine-protocol.md), written by the contract's event dataclasses
(nst_contract/events.py, whose ``parse_event`` the front ends read them with). Every
command uses the same reporters, so the plug-in parses one protocol for all of them, and
the same ``failure`` turns what ended a command or a serve job into its ``error`` event.
"""
from __future__ import annotations

import json
import math
import sys

from nst_contract.events import EngineError, Error


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


def _clean(value):
    """JSON has no NaN/inf: send them as null so every line stays parseable."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class Reporter:
    """Base: ignores everything (``--progress none``); errors still go to stderr."""

    def emit(self, event: dict) -> None:
        if event.get("event") == "error":
            print(f"error: {event['message']}", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


class JsonReporter(Reporter):
    """One JSON object per line on stdout, flushed at once (the plug-in reads it live).

    stdout belongs to the protocol alone: while this reporter is open, anything else
    printed to ``sys.stdout`` (torch's "Downloading: ..." line, say) goes to stderr.
    """

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self._saved_stdout = sys.stdout
        sys.stdout = sys.stderr

    def emit(self, event: dict) -> None:
        self.stream.write(json.dumps(_clean(event), allow_nan=False) + "\n")
        self.stream.flush()
        if event.get("event") == "error":
            print(f"error: {event['message']}", file=sys.stderr, flush=True)

    def close(self) -> None:
        sys.stdout = self._saved_stdout


class BarReporter(Reporter):
    """A tqdm bar on stderr over the whole job's ``fraction``."""

    def __init__(self):
        self.bar = None

    def emit(self, event: dict) -> None:
        from tqdm import tqdm

        kind = event.get("event")
        if kind == "start":
            self.bar = tqdm(total=1000, unit="‰", file=sys.stderr, dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")
        elif kind == "progress" and self.bar is not None:
            self.bar.n = int(round(1000 * event.get("fraction", 0.0)))
            self.bar.set_description(event.get("label", ""), refresh=False)
            loss = event.get("loss")
            if loss:
                self.bar.set_postfix_str(" ".join(f"{k}={v:.3g}" for k, v in loss.items()), refresh=False)
            self.bar.refresh()
        elif kind in ("done", "error"):
            self.close()
            if kind == "done":
                print(f"wrote {event.get('output')} in {event.get('seconds', 0):.1f} s", file=sys.stderr)
            else:
                super().emit(event)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def make_reporter(kind: str | None) -> Reporter:
    if kind is None:
        kind = "bar" if sys.stderr.isatty() else "none"
    return {"json": JsonReporter, "bar": BarReporter, "none": Reporter}[kind]()
