"""What a ``visualize()`` caller hears while it waits (start, progress) and gets at the end.

``to_event()`` gives each the JSON-lines form the command line prints (docs/visualize.md).
``Reporter`` keeps the clock, so that every stage reports elapsed time and ETA the same way.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field


@dataclass
class VisualizeStarted:
    images: int
    skipped: list  # [{"path", "reason"}]
    layers: list
    units: int
    top: int
    size: int
    backend: str
    device: str
    model: str
    weights: str
    backend_note: str = ""

    def to_event(self) -> dict:
        return {"event": "start", "command": "visualize", **asdict(self)}


@dataclass
class VisualizeProgress:
    stage: str  # scan | gradients | render
    step: int  # 1-based within the stage
    steps: int
    fraction: float  # of the whole job, 0..1
    elapsed_s: float
    eta_s: float | None
    image: str | None = None

    def to_event(self) -> dict:
        what = f" {os.path.basename(self.image)}" if self.image else ""
        return {"event": "progress", **asdict(self), "label": f"{self.stage} {self.step}/{self.steps}{what}"}


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
        return {"event": "done", "command": "visualize",
                "output": str(self.output) if self.output else None,
                "json": str(self.json_output) if self.json_output else None,
                "seconds": round(self.seconds, 3), "size": list(self.image.size),
                "images": len(self.index["images"]), "skipped": len(self.index["skipped"]),
                "patches": len(self.patches), "backend": self.backend}


class Reporter:
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
