"""What the engine says while it works, and how it fails.

The engine writes one JSON object per line on stdout (``--progress json``), each with
an ``"event"`` key (docs/engine-protocol.md). The typed events are dataclasses here
with ``to_event()`` (the engine writes it) and ``from_event()``; ``parse_event`` is
the one reader of a line (plug-in and installer alike) and returns the plain dict,
``typed`` turns such a dict into its dataclass. Events of a command carry
``"command"``; ``error`` events carry only ``code`` and ``message`` (a usage error
has no command yet), and ``serve`` adds the job's ``id`` to every event of a job.

Every failure has a stable ``code`` with its exit status (``EXIT_CODES``), so nobody
parses messages; ``EngineError`` is the one exception type for them.
"""
from __future__ import annotations

import os
from dataclasses import MISSING, asdict, dataclass, fields
from typing import ClassVar, Optional

from .jsonlines import BadLine, read_json

EXIT_CODES = {
    "internal": 1,
    "bad_input": 2,
    "weights_missing": 3,
    "out_of_memory": 4,
    "disk_full": 5,
    "cancelled": 130,
}


class EngineError(Exception):
    """A failure with a stable ``code`` and a message that says what to do.

    Raised by the engine (which turns it into an ``error`` event and exits with
    ``exit_code``) and by front ends that ran it: they also record the process's actual
    ``returncode`` and the tail of its stderr when they have them."""

    def __init__(self, code: str, message: str, *, returncode: Optional[int] = None, stderr_tail: str = ""):
        if code not in EXIT_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.returncode = returncode
        self.stderr_tail = stderr_tail

    @property
    def exit_code(self) -> int:
        """The engine's exit status for this code."""
        return EXIT_CODES[self.code]

    def to_event(self) -> dict:
        return Error(self.code, self.message).to_event()


def bad_input(message: str) -> EngineError:
    return EngineError("bad_input", message)


# ----------------------------------------------------------------------------- events

@dataclass
class Event:
    """Base of the typed events: ``KIND`` is the ``"event"`` value, ``COMMAND`` the command."""

    KIND: ClassVar[str] = ""
    COMMAND: ClassVar[Optional[str]] = None

    def to_event(self) -> dict:
        head = {"event": self.KIND}
        if self.COMMAND:
            head["command"] = self.COMMAND
        return {**head, **asdict(self)}

    @classmethod
    def from_event(cls, event: dict):
        """The dataclass back from its dict: unknown keys are ignored, lists become tuples
        where the field is a tuple, missing optional fields take their defaults and missing
        others are None (an engine of another version may lack one: readers check what they use)."""
        values = {}
        for f in fields(cls):
            if f.name in event:
                value = event[f.name]
                if isinstance(value, list) and str(f.type).startswith("tuple"):
                    value = tuple(value)
                values[f.name] = value
            elif f.default is MISSING and f.default_factory is MISSING:
                values[f.name] = None
        return cls(**values)


@dataclass
class Started(Event):
    """stylize: the plan, before the first step."""

    KIND: ClassVar[str] = "start"
    COMMAND: ClassVar[str] = "stylize"
    content_size: tuple
    output_size: tuple
    scales: list
    steps: list
    device: str
    model: str
    weights: str
    memory_estimate_mb: float
    weights_source: str = ""  # where the weights come from
    weights_sha256: str = ""  # its sha256 prefix
    numerics: Optional[dict] = None  # {"precision", "layout", "how"}: what the VGG runs in and why
    tiles: Optional[list] = None  # per scale: tile core side, or None where the whole image is one pass
    note: str = ""  # why the result is smaller than asked (memory), for people
    total_steps: Optional[int] = None  # for readers: sum(steps), filled in when not given

    def __post_init__(self):
        if self.total_steps is None and isinstance(self.steps, (list, tuple)):
            self.total_steps = sum(self.steps)


@dataclass
class Progress(Event):
    """stylize: one optimisation step done."""

    KIND: ClassVar[str] = "progress"
    COMMAND: ClassVar[str] = "stylize"
    scale: int
    scales: int
    size: tuple
    step: int
    steps: int
    fraction: float
    elapsed_s: float
    eta_s: Optional[float]
    loss: dict
    tile: Optional[list] = None  # [tiles done, tiles in this step] while a tiled step is under way
    label: str = ""  # for people: " ".join(position()), filled in when not given

    def __post_init__(self):
        self.label = self.label or " ".join(self.position())

    def position(self) -> list:
        """Where the job is, for people, in parts: ["scale 2/3", "step 40/100"], "setup" for step 0
        (a tiled scale building its targets, style Grams and content features, before step 1),
        and "tile 1/4" while a tiled step is under way. The engine's label joins them, the
        plug-in's progress text too; a part whose numbers the event lacks is left out."""
        parts = []
        if isinstance(self.scale, int) and isinstance(self.scales, int):
            parts.append(f"scale {self.scale + 1}/{self.scales}")
        if self.step == 0:
            parts.append("setup")
        elif isinstance(self.step, int) and isinstance(self.steps, int):
            parts.append(f"step {self.step}/{self.steps}")
        if isinstance(self.tile, (list, tuple)) and len(self.tile) == 2:
            parts.append(f"tile {self.tile[0]}/{self.tile[1]}")
        return parts



@dataclass
class Snapshot(Event):
    """serve: the picture so far, written to ``path`` (a job with ``snapshot_every``)."""

    KIND: ClassVar[str] = "snapshot"
    COMMAND: ClassVar[str] = "stylize"
    path: str
    scale: int
    step: int
    steps: int
    fraction: float


@dataclass
class Done(Event):
    """stylize: the result (``output`` None when it was not written)."""

    KIND: ClassVar[str] = "done"
    COMMAND: ClassVar[str] = "stylize"
    output: Optional[str]
    seconds: float
    loss: dict
    size: tuple


@dataclass
class Ready(Event):
    """serve: the process reads jobs now."""

    KIND: ClassVar[str] = "ready"
    COMMAND: ClassVar[str] = "serve"
    pid: int


@dataclass
class Error(Event):
    """Any command: it stopped; ``code`` is a key of EXIT_CODES."""

    KIND: ClassVar[str] = "error"
    code: str
    message: str


@dataclass
class VisualizeStarted(Event):
    KIND: ClassVar[str] = "start"
    COMMAND: ClassVar[str] = "visualize"
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


@dataclass
class VisualizeProgress(Event):
    KIND: ClassVar[str] = "progress"
    COMMAND: ClassVar[str] = "visualize"
    stage: str  # scan | gradients | render
    step: int  # 1-based within the stage
    steps: int
    fraction: float  # of the whole job, 0..1
    elapsed_s: float
    eta_s: Optional[float]
    image: Optional[str] = None
    label: str = ""  # for people: "scan 2/3 b.png", filled in when not given

    def __post_init__(self):
        what = f" {os.path.basename(self.image)}" if self.image else ""
        self.label = self.label or f"{self.stage} {self.step}/{self.steps}{what}"


@dataclass
class VisualizeDone(Event):
    KIND: ClassVar[str] = "done"
    COMMAND: ClassVar[str] = "visualize"
    output: Optional[str]
    json: Optional[str]
    seconds: float
    size: tuple
    images: int
    skipped: int
    patches: int
    backend: str


EVENTS = (Started, Progress, Snapshot, Done, Ready, Error, VisualizeStarted, VisualizeProgress, VisualizeDone)


# ----------------------------------------------------------------------------- reading

def parse_event(line) -> Optional[dict]:
    """One stdout line (str or bytes) → the event dict, or None for anything that is not an event."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = read_json(line)
    except BadLine:
        return None
    return event if isinstance(event.get("event"), str) else None


def typed(event: dict) -> Optional[Event]:
    """An event dict → its dataclass (stylize's when it names no command), or None when
    this contract does not type it (``info``, ``calibration``: plain dicts)."""
    command = event.get("command") or "stylize"
    for cls in EVENTS:
        if cls.KIND == event.get("event") and cls.COMMAND in (command, None):
            return cls.from_event(event)
    return None
