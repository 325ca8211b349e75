"""What a stylisation hands back in-process: the image itself, and its ``done`` event for the others.

Here, not in a job, so that every way of stylising returns the same thing.
"""
from __future__ import annotations

from dataclasses import dataclass

from nst_contract.events import Done


@dataclass
class StylizeResult:
    """``stylize()``'s answer in-process (the image itself); its ``done`` event for the others."""

    image: object  # PIL image, as written
    output: object
    seconds: float
    loss: dict
    size: tuple

    def to_event(self) -> dict:
        return Done(str(self.output) if self.output else None, round(self.seconds, 3), self.loss,
                    list(self.size)).to_event()
