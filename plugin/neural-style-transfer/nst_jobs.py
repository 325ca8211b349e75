"""What the user asked for, as the engine's requests: stylize (the run and the preview) and visualize.

A Job holds the dialog's settings and the files of one run; the quality presets and the result's
size are decided here (result_size), not in the GIMP file, so they are tested without GIMP. The
request and its command line are the contract's (nst_contract): StylizeRequest/VisualizeRequest
and to_argv, with the defaults, choices and limits written there once.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from nst_contract import options, process
from nst_contract.options import fit_longest  # noqa: F401 (the engine's size rule)
from nst_contract.plugin_config import Config
from nst_contract.requests import StylizeRequest, VisualizeRequest, to_argv
from nst_errors import NstError

# Preset -> (engine --quality, longest side cap in pixels; 0 = none): a preset per quality of
# the engine. With the `size` argument 0, draft is a quick look at reduced size (scaled up to the
# layer), balanced and best compute the layer at its own size (the engine's limit and memory
# permitting), best with more iterations at the fine scales. The engine owns its size limit and
# schedules.
PRESET_CAPS = {"draft": 1024}
PRESETS: Dict[str, Tuple[str, int]] = {q: (q, PRESET_CAPS.get(q, 0)) for q in options.QUALITIES}
# The dialog's words for each preset: (label, what it does, for the help).
_WORDS = {"draft": (f"Draft (quick look, up to {PRESET_CAPS['draft']} px)",
                    f"a quick look at up to {PRESET_CAPS['draft']} px, scaled to the layer"),
          "balanced": ("Balanced (full size)", "the layer at its own size, few iterations at the finest scales"),
          "best": ("Best (full size, more detail; slow)", "the layer at its own size, more iterations: slow")}
PRESET_WORDS: Dict[str, Tuple[str, str]] = {name: _WORDS.get(name, (name.capitalize(), name)) for name in PRESETS}
# Written on every command line even at the engine's default, so a log shows what was asked.
STYLIZE_ALWAYS = ("quality", "strength", "preserve_color", "seed")
VISUALIZE_ALWAYS = ("units", "top", "size", "cell")
# The config's engine settings (nst-config.json), options every engine command has.
SETTINGS = ("model", "weights", "device", "threads")


@dataclass
class Job:
    content: str                   # PNG of the source layer (RGB)
    style: str                     # style image file
    output: str                    # where the engine writes its PNG
    layer_size: Tuple[int, int]    # (width, height) of the source layer
    mask: Optional[str] = None     # grayscale PNG, same size as content
    strength: float = options.DEFAULT_STRENGTH
    preset: str = options.DEFAULT_QUALITY
    size: int = 0
    preserve_color: bool = False
    seed: int = 0
    iterations: int = 0
    coarsest: int = 0              # the pyramid's first scale (longest side); 0 = the engine's default


def result_size(layer_w: int, layer_h: int, size: int, preset: str) -> int:
    """Longest side of the engine's result in pixels.

    ``size`` 0 means the layer's longest side, capped by the preset's cap if it has one; an
    explicit ``size`` is honoured but never larger than the layer (upscaling in the engine
    would only cost time). Either is raised to the smallest size whose shorter side is the
    engine's MIN_SIDE (the network's smallest input), up to the layer's own size; a layer
    smaller than that is checked by stylize_request. The engine may compute less when the
    layer exceeds its size limit or memory (its ``start`` event says so); the result is then
    scaled to the layer."""
    if preset not in PRESETS:
        raise NstError(f"Unknown preset {preset!r}: use one of {', '.join(PRESETS)}.")
    longest, shortest = max(int(layer_w), int(layer_h)), min(int(layer_w), int(layer_h))
    if longest < 1:
        raise NstError("The layer is empty (0 pixels).")
    cap = PRESETS[preset][1] or longest
    target = cap if size <= 0 else int(size)
    smallest = math.ceil(options.MIN_SIDE * longest / max(shortest, 1))
    return min(longest, max(target, smallest))


def check_layer_size(width: int, height: int, longest: int) -> None:
    """NstError, in the dialog's words, when the engine could not work on this layer: its
    result's shorter side would be under the engine's MIN_SIDE at ``longest`` px, the longest side
    the engine computes (options.result_longest)."""
    if min(fit_longest(width, height, longest)) >= options.MIN_SIDE:
        return
    at = "" if longest >= max(width, height) else f" (computed at {longest} px on its longest side)"
    raise NstError(f"The layer is {width} x {height} px{at}: neural style transfer needs at least "
                   f"{options.MIN_SIDE} px on each side (the network's smallest input). Scale the layer "
                   "up first (Layer > Scale Layer...), or use a less elongated layer.")


def stylize_request(job: Job) -> StylizeRequest:
    """``job`` as the contract's request (the config's engine settings are added by engine_argv)."""
    if job.preset not in PRESETS:
        raise NstError(f"Unknown preset {job.preset!r}: use one of {', '.join(PRESETS)}.")
    w, h = job.layer_size
    longest = result_size(w, h, job.size, job.preset)
    size = longest if longest < max(job.layer_size) or job.size > 0 else None
    # else: the content's own size, which the engine reduces (saying so) beyond its limit or memory
    check_layer_size(w, h, options.result_longest(w, h, size))
    return StylizeRequest(
        content=job.content, styles=[job.style], output=job.output, mask=job.mask or None,
        quality=PRESETS[job.preset][0], size=size, strength=_strength(job.strength),
        preserve_color="luminance" if job.preserve_color else "none", seed=int(job.seed),
        iterations=int(job.iterations) if job.iterations and job.iterations > 0 else None,
        coarsest=int(job.coarsest) if job.coarsest and job.coarsest > 0 else options.DEFAULT_COARSEST)


def _strength(value: float) -> float:
    """Within the contract's STRENGTH_RANGE, to 4 significant digits; a whole number as an int,
    so that the command line reads ``--strength 1``."""
    low, high = options.STRENGTH_RANGE
    s = float(f"{min(high, max(low, float(value))):.4g}")
    return int(s) if s.is_integer() else s


def stylize_args(job: Job) -> List[str]:
    """``stylize``'s arguments for ``job``: on the command line (build_argv) and in a ``serve``
    job line (PreviewEngine) alike."""
    return to_argv(stylize_request(job), always=STYLIZE_ALWAYS)


def engine_argv(cfg: Config, command: str, args: Sequence[str],
                extra_args: Optional[Sequence[str]] = None) -> List[str]:
    """Any engine command as the plug-in runs it (nst_contract.process.engine_argv): ``args``,
    then JSON progress on stdout and cancel on stdin EOF, then the network and compute
    settings from the config (model, weights, device, threads), then ``extra_args``."""
    settings = []
    for name in SETTINGS:
        value = getattr(cfg, name)
        if value:
            settings += [options.option(command, name).flags[-1], str(value)]
    return process.engine_argv(cfg.engine_python, command, args, [*settings, *(extra_args or [])])


def build_argv(cfg: Config, job: Job) -> List[str]:
    """The engine's ``stylize`` command line (docs/engine-protocol.md)."""
    return engine_argv(cfg, "stylize", stylize_args(job), cfg.extra_args)


# --------------------------------------------------------------------------- visualize

@dataclass
class VisualizeJob:
    inputs: List[str]              # image files and/or folders
    output: str                    # the picture (.png)
    index: str                     # the JSON index (.json)
    layers: str = ""               # as typed in the dialog; "" = the engine's default
    units: int = options.DEFAULT_UNITS
    top: int = options.DEFAULT_TOP
    size: int = options.DEFAULT_SIZE
    cell: int = options.DEFAULT_CELL
    gradients: bool = False


def normalize_layers(text: Optional[str]) -> str:
    """"relu1_1, relu2_1" / "relu1_1 relu2_1" -> "relu1_1,relu2_1"; "" or None -> "" (the
    engine's default). The names themselves are checked by the engine (bad_input)."""
    return ",".join(p for p in re.split(r"[\s,;]+", text or "") if p)


def visualize_request(job: VisualizeJob) -> VisualizeRequest:
    """``job`` as the contract's request."""
    if not job.inputs:
        raise NstError("No images to visualize: choose a folder of images, or open some images.")
    layers = normalize_layers(job.layers)
    return VisualizeRequest(inputs=list(job.inputs), output=job.output, json_output=job.index,
                            layers=tuple(layers.split(",")) if layers else options.DEFAULT_LAYERS,
                            units=int(job.units), top=int(job.top), size=int(job.size),
                            cell=int(job.cell), gradients=bool(job.gradients))


def build_visualize_argv(cfg: Config, job: VisualizeJob) -> List[str]:
    """The engine's ``visualize`` command line (docs/visualize.md)."""
    args = to_argv(visualize_request(job), always=VISUALIZE_ALWAYS)
    return engine_argv(cfg, "visualize", args, cfg.visualize_extra_args)


# --------------------------------------------------------------------------- preview

# The dialog's preview: the engine's own objective at a small size, few iterations, and a
# picture every few steps so the first appears well before the run ends. Two scales, 128 then
# 256 px: at 128 px a step costs a quarter, and 4 steps there already show the style (L-BFGS's
# first two steps hardly move the pixels); the 256 px steps then sharpen it. Measured on a
# 2-core AMD EPYC (docs/plugin.md, "Preview times"): first picture 1.6 s after the job starts
# instead of 2.9 s at 256 px alone, and the whole preview 6.4 s instead of 9.1 s for 12 steps.
PREVIEW_SIZE = 256
PREVIEW_COARSEST = 128
PREVIEW_ITERATIONS = 8            # at 256 px; the 128 px scale gets the engine's share of it (5)
PREVIEW_SNAPSHOT_EVERY = 4
PREVIEW_DEBOUNCE_MS = 300
# Dialog settings that change the preview (the others set the full run's size and time).
PREVIEW_SETTINGS = ("style-source", "style-file", "style-layer", "strength", "preserve-color",
                    "region", "seed")


def preview_job(content: str, style: str, output: str, size: Tuple[int, int],
                mask: Optional[str] = None, strength: float = options.DEFAULT_STRENGTH,
                preserve_color: bool = False, seed: int = 0) -> Job:
    """A preview job: ``content`` is already scaled to the preview's ``size``."""
    return Job(content=content, style=style, output=output, layer_size=size, mask=mask,
               strength=strength, preset="draft", size=PREVIEW_SIZE,
               preserve_color=preserve_color, seed=seed, iterations=PREVIEW_ITERATIONS,
               coarsest=PREVIEW_COARSEST)


def preview_size(width: int, height: int, longest: int = PREVIEW_SIZE) -> Tuple[int, int]:
    """The preview's (w, h): the layer scaled so its longest side is at most ``longest``, or
    more where the shorter side would be under the engine's MIN_SIDE (never enlarged)."""
    scale = min(1.0, max(longest / max(width, height, 1), options.MIN_SIDE / max(min(width, height), 1)))
    return max(1, round(width * scale)), max(1, round(height * scale))
