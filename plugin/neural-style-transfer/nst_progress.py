"""Texts for the user about time: GIMP's progress bar from the engine's events, and the dialog's
estimates per preset (the engine's calibration for this computer, else typical times).
"""
from __future__ import annotations

import math
import os
from typing import Optional, Tuple

from nst_contract import calibration, events, iterations
from nst_contract.options import fit_longest
from nst_jobs import PRESETS, result_size


# Shown under the preset in the dialog when the engine has not calibrated on this computer yet:
# a 1024 x 768 photo's time per preset, from the engine's own schedules (nst_contract.iterations)
# and the per-step times measured with VGG19 on a 2-core AMD EPYC (docs/benchmarks.md,
# "Full-size results"), by the scale's longest side.
TYPICAL_SIZE = (1024, 768)
TYPICAL_STEP_SECONDS = {256: 1.2, 512: 3.2, 1024: 15.8}


def typical_seconds(quality: str, cap: int = 0) -> float:
    """Seconds of a TYPICAL_SIZE photo at ``quality`` (its longest side at most ``cap``; 0: none):
    each scale's steps times the measured step of the nearest side, scaled by the pixels."""
    longest = min(max(TYPICAL_SIZE), cap or max(TYPICAL_SIZE))
    scales, steps = iterations.schedule(fit_longest(*TYPICAL_SIZE, longest), quality)
    total = 0.0
    for (w, h), n in zip(scales, steps):
        side = max(w, h)
        near = min(TYPICAL_STEP_SECONDS, key=lambda s: abs(s - side))
        total += n * TYPICAL_STEP_SECONDS[near] * (side / near) ** 2
    return total


def _minutes(seconds: float) -> str:
    return f"about {round(seconds / 30) / 2:g} min"


def _typical_text() -> str:
    (first, (_q, cap)), *rest = PRESETS.items()
    times = [f"{first} (at most {cap} px)\n{_minutes(typical_seconds(first, cap))}" if cap
             else f"{first} {_minutes(typical_seconds(first))}"]
    times += [f"{name} {_minutes(typical_seconds(quality, c))}" for name, (quality, c) in rest]
    return (f"Typical times on a 2-core CPU for a {TYPICAL_SIZE[0]} x {TYPICAL_SIZE[1]} photo: {times[0]}, "
            f"{', '.join(times[1:])} (the layer at its own\n"
            "size: a larger layer takes longer; a GPU is much faster).\n"
            "Cancel in the progress bar stops the engine; the image stays as it was.")


PRESET_TIMES_TEXT = _typical_text()
PROGRESS_TITLES = {"stylize": "Neural style transfer", "visualize": "Visualize network units"}


def _about(seconds: float) -> str:
    if seconds < 60:
        return f"{max(5, int(5 * round(seconds / 5)))} s"
    if seconds < 3600:
        return f"{int(round(seconds / 60))} min"
    return f"{seconds / 3600:.1f} h"


def preset_times_text(model: Optional[str] = None, device: Optional[str] = None,
                      environ: Optional[dict] = None, layer_size: Optional[Tuple[int, int]] = None) -> str:
    """The dialog's times: the engine's estimates for this computer when it has calibrated here
    (``doctor``, the installer's self-check or the first run do), for ``layer_size`` (w, h) at
    each preset's size (else for a 1024 x 768 photo), or else the typical times. The cache's
    entries come validated from the contract's reader; what they add up to is checked here."""
    entries = calibration.read_entries(calibration.cache_path(environ)).values()
    mine = [e for e in entries if e["model"] == (model or "vgg19") and e.get("estimates")
            and device in (None, "auto", e["device"])]
    if not mine:
        return PRESET_TIMES_TEXT
    newest = max(mine, key=lambda e: e["measured_at"])
    w, h = layer_size or (1024, 768)
    limit = newest.get("size_limit") or max(w, h)
    times = []
    for name, (quality, _cap) in PRESETS.items():
        longest = min(result_size(w, h, 0, name), limit)
        try:
            seconds = estimate_seconds(newest["estimates"][quality], w, h, longest)
        except (KeyError, ValueError, ArithmeticError):
            return PRESET_TIMES_TEXT
        if not 0 <= seconds <= calibration.MAX_SECONDS:  # NaN included
            return PRESET_TIMES_TEXT
        at = f" at {longest} px" if longest < max(w, h) else ""
        times.append(f"{name} about {_about(seconds)}{at}")
    what = f"this {w} x {h} layer" if layer_size else "a 1024 x 768 photo"
    text = (f"Estimated for this computer (measured {newest['measured_at'][:10]}), {what}:\n"
            f"{', '.join(times)} (plus a few s to start).\n")
    if layer_size and max(w, h) > limit:
        text += (f"The layer is larger than {limit} px: it is computed at {limit} px (or the largest size "
                 "that fits in memory) and scaled up.\n")
    return text + PRESET_TIMES_TEXT.splitlines()[-1]


def estimate_seconds(table: dict, width: int, height: int, longest: int) -> float:
    """Seconds for a ``width`` x ``height`` layer computed at ``longest`` px, from the engine's
    table {longest side of a 4:3 picture: seconds}: power-law interpolation between the two
    nearest sides (time grows a little faster than the pixels), scaled by the aspect ratio."""
    sides = sorted((int(k), float(v)) for k, v in table.items())
    lo = max([p for p in sides if p[0] <= longest] or sides[:1])
    hi = min([p for p in sides if p[0] >= longest] or sides[-1:])
    if hi[0] == lo[0]:
        power = 2.0
        if len(sides) > 1:  # outside the table: the slope of its nearest end
            a, b = (sides[0], sides[1]) if longest < sides[0][0] else (sides[-2], sides[-1])
            power = math.log(b[1] / a[1]) / math.log(b[0] / a[0])
        seconds = lo[1] * (longest / lo[0]) ** power
    else:
        power = math.log(hi[1] / lo[1]) / math.log(hi[0] / lo[0])
        seconds = lo[1] * (longest / lo[0]) ** power
    scale = longest / max(width, height)
    return seconds * (width * scale) * (height * scale) / (longest * longest * 3 / 4)


def format_duration(seconds) -> str:
    """61 -> '1:01', 3725 -> '1:02:05'."""
    s = max(0, int(round(float(seconds))))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def progress_text(ev: dict) -> str:
    """Text for GIMP's progress bar from an event of any engine command (its typed event,
    nst_contract.events)."""
    event = _typed(ev)
    if isinstance(event, (events.VisualizeStarted, events.VisualizeProgress, events.VisualizeDone)):
        return _visualize_progress_text(event)
    if event is None and ev.get("command") == "visualize":
        return PROGRESS_TITLES["visualize"]
    if isinstance(event, events.Started):
        extra = []
        if event.total_steps:
            extra.append(f"{event.total_steps} steps")
        if event.device:
            extra.append(f"on {event.device}")
        text = "Neural style transfer: starting" + (f" ({', '.join(extra)})" if extra else "")
        return f"{text}; {event.note}" if isinstance(event.note, str) and event.note else text
    if isinstance(event, events.Progress):
        # the contract's position (a full-size step takes minutes: its tile shows it moving), the ETA
        parts = [*event.position(), *filter(None, [_eta_text(event.eta_s)])]
        if parts and parts[0].startswith("scale "):
            parts[0] = "S" + parts[0][1:]   # the text starts with its scale, as a sentence
        return ", ".join(parts) if parts else PROGRESS_TITLES["stylize"]
    if isinstance(event, events.Done):
        return f"{PROGRESS_TITLES['stylize']}: done"
    return PROGRESS_TITLES["stylize"]


def _typed(ev: dict) -> Optional[events.Event]:
    """The event's dataclass (None for untyped ones: ``info``, ``calibration``). Older engines put
    ``command`` only on visualize's ``start``/``done``, and ``stage`` on its progress events."""
    if ev.get("event") == "progress" and "stage" in ev and "command" not in ev:
        ev = {**ev, "command": "visualize"}
    return events.typed(ev)


def _eta_text(eta) -> Optional[str]:
    if isinstance(eta, (int, float)) and eta == eta and eta >= 0:
        return f"{format_duration(eta)} left"
    return None


def _visualize_progress_text(event: events.Event) -> str:
    title = PROGRESS_TITLES["visualize"]
    if isinstance(event, events.VisualizeStarted):
        extra = []
        if isinstance(event.images, int):
            extra.append(f"{event.images} image{'s' if event.images != 1 else ''}")
        if isinstance(event.skipped, list) and event.skipped:
            extra.append(f"{len(event.skipped)} skipped")
        where = " on ".join(str(x) for x in (event.backend, event.device) if x)
        if where:
            extra.append(where)
        return f"{title}: starting" + (f" ({', '.join(extra)})" if extra else "")
    if isinstance(event, events.VisualizeDone):
        return f"{title}: done"
    stage = event.stage
    count = f"{event.step}/{event.steps}" if isinstance(event.step, int) and isinstance(event.steps, int) else ""
    if stage == "scan":
        text = f"Scanning image {count}".rstrip()
        if isinstance(event.image, str) and event.image:
            text += f" ({os.path.basename(event.image)})"
    elif stage == "gradients":
        text = f"Gradients {count}".rstrip()
    elif stage == "render":
        text = "Drawing the picture"
    else:
        text = event.label if isinstance(event.label, str) and event.label else title  # the engine's words
    eta = _eta_text(event.eta_s)
    return f"{text}, {eta}" if eta and stage != "render" else text


def progress_fraction(ev: dict) -> Optional[float]:
    event = _typed(ev)
    if isinstance(event, (events.Done, events.VisualizeDone)):
        return 1.0
    f = getattr(event, "fraction", None)
    if isinstance(f, (int, float)) and f == f:
        return min(1.0, max(0.0, float(f)))
    return None
