"""What a ``visualize()`` caller gets at the end, and the clock its progress events carry.

The start and progress events are the contract's (nst_contract.events); ``to_event()`` gives the
JSON-lines form the command line prints (docs/visualize.md).
``ProgressClock`` keeps the clock, so that every stage reports elapsed time and ETA the same way.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from nst_contract.events import VisualizeDone, VisualizeProgress


@dataclass
class Patch:
    layer: str
    unit: int
    rank: int  # 0 = the highest activation of this unit
    activation: float
    image: str  # path (or "<image N>" for in-memory images)
    image_index: int
    position: tuple  # (row, col) in the layer's grid
    box: tuple  # (x0, y0, x1, y1) in the scanned image, end-exclusive, clipped at the border
    box_original: tuple  # the same box in the original file's pixels
    cell: tuple = ()  # (x0, y0, x1, y1) of the patch's cell in the picture
    gradient_cell: tuple | None = None


@dataclass
class VisualizeResult:
    image: object  # the picture (PIL RGB)
    output: object
    json_output: object
    seconds: float
    backend: str
    index: dict  # what was written to the JSON file
    patches: list = field(default_factory=list)

    def to_event(self) -> dict:
        return VisualizeDone(str(self.output) if self.output else None,
                             str(self.json_output) if self.json_output else None,
                             round(self.seconds, 3), list(self.image.size), len(self.index["images"]),
                             len(self.index["skipped"]), len(self.patches), self.backend).to_event()


class ProgressClock:
    """Passes events to the caller's ``on_progress`` (if any), timing them from the start of the run."""

    def __init__(self, on_progress=None):
        self.t0 = time.perf_counter()
        self.emit = on_progress or (lambda _event: None)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def progress(self, stage: str, step: int, steps: int, fraction: float, image: str | None = None) -> None:
        """``fraction`` (> 0) of the whole job is done; the ETA assumes the rest goes at the same pace."""
        elapsed = self.elapsed()
        self.emit(VisualizeProgress(stage, step, steps, round(fraction, 5), round(elapsed, 3),
                                    round(elapsed * (1 - fraction) / fraction, 1), image))
