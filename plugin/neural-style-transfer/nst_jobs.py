"""What the user asked for, as the engine's command lines: stylize (the run and the preview) and visualize.

A Job holds the dialog's settings and the files of one run; the quality presets and the result's
size are decided here (result_size), not in the GIMP file, so they are tested without GIMP.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from nst_config import Config
from nst_errors import NstError


# Preset -> (engine --quality, longest side cap in pixels; 0 = none). With the `size`
# argument 0, draft is a quick look at reduced size (scaled up to the layer), balanced and
# best compute the layer at its own size (the engine's limit and memory permitting), best
# with more iterations at the fine scales. The engine owns its size limit and schedules.
PRESETS: Dict[str, Tuple[str, int]] = {
    "draft": ("draft", 1024),
    "balanced": ("balanced", 0),
    "best": ("best", 0),
}
# `visualize` defaults (docs/visualize.md); the GIMP procedure's arguments use the same.
VISUALIZE_DEFAULTS = {"layers": "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1", "units": 9, "top": 9,
                      "size": 256, "cell": 64}


@dataclass
class Job:
    content: str                   # PNG of the source layer (RGB)
    style: str                     # style image file
    output: str                    # where the engine writes its PNG
    layer_size: Tuple[int, int]    # (width, height) of the source layer
    mask: Optional[str] = None     # grayscale PNG, same size as content
    strength: float = 0.5
    preset: str = "balanced"
    size: int = 0
    preserve_color: bool = False
    seed: int = 0
    iterations: int = 0
    coarsest: int = 0              # the pyramid's first scale (longest side); 0 = the engine's default


def result_size(layer_w: int, layer_h: int, size: int, preset: str) -> int:
    """Longest side of the engine's result in pixels.

    ``size`` 0 means the layer's longest side, capped by the preset's cap if it has one; an
    explicit ``size`` is honoured but never larger than the layer (upscaling in the engine
    would only cost time). The engine may compute less when the layer exceeds its size
    limit or memory (its ``start`` event says so); the result is then scaled to the layer."""
    if preset not in PRESETS:
        raise NstError(f"Unknown preset {preset!r}: use one of {', '.join(PRESETS)}.")
    longest = max(int(layer_w), int(layer_h))
    if longest < 1:
        raise NstError("The layer is empty (0 pixels).")
    cap = PRESETS[preset][1] or longest
    target = cap if size <= 0 else int(size)
    return max(16, min(longest, target)) if longest >= 16 else longest


def engine_argv(cfg: Config, command: str, args: Sequence[str],
                extra_args: Optional[Sequence[str]] = None) -> List[str]:
    """Any engine command as the plug-in runs it: ``args`` (inputs, output, options), then
    JSON progress on stdout and cancel on stdin EOF, then the network and compute settings
    from the config (model, weights, device, threads), then ``extra_args``."""
    argv = [cfg.engine_python, "-m", "nst_engine", command, *args,
            "--progress", "json", "--watch-stdin"]
    if cfg.model:
        argv += ["--model", cfg.model]
    if cfg.weights:
        argv += ["--weights", cfg.weights]
    if cfg.device:
        argv += ["--device", cfg.device]
    if cfg.threads:
        argv += ["--threads", str(cfg.threads)]
    argv += list(extra_args or [])
    return argv


def build_argv(cfg: Config, job: Job) -> List[str]:
    """The engine's ``stylize`` command line (docs/engine-protocol.md)."""
    return engine_argv(cfg, "stylize", stylize_args(job), cfg.extra_args)


def stylize_args(job: Job) -> List[str]:
    """``stylize``'s arguments for ``job``: on the command line (build_argv) and in a ``serve``
    job line (PreviewEngine) alike."""
    quality = PRESETS[job.preset][0] if job.preset in PRESETS else None
    if quality is None:
        raise NstError(f"Unknown preset {job.preset!r}: use one of {', '.join(PRESETS)}.")
    strength = min(1.0, max(0.0, float(job.strength)))
    longest = result_size(job.layer_size[0], job.layer_size[1], job.size, job.preset)
    args = [job.content, "--style", job.style, "-o", job.output, "--quality", quality]
    if longest < max(job.layer_size) or job.size > 0:
        args += ["--size", str(longest)]
    # else: the content's own size, which the engine reduces (saying so) beyond its limit or memory
    args += ["--strength", f"{strength:.4g}",
            "--preserve-color", "luminance" if job.preserve_color else "none",
            "--seed", str(int(job.seed))]
    if job.iterations and job.iterations > 0:
        args += ["--iterations", str(int(job.iterations))]
    if job.coarsest and job.coarsest > 0:
        args += ["--coarsest", str(int(job.coarsest))]
    if job.mask:
        args += ["--mask", job.mask]
    return args


@dataclass
class VisualizeJob:
    inputs: List[str]              # image files and/or folders
    output: str                    # the picture (.png)
    index: str                     # the JSON index (.json)
    layers: str = ""               # "" = the engine's default
    units: int = VISUALIZE_DEFAULTS["units"]
    top: int = VISUALIZE_DEFAULTS["top"]
    size: int = VISUALIZE_DEFAULTS["size"]
    cell: int = VISUALIZE_DEFAULTS["cell"]
    gradients: bool = False


def normalize_layers(text: Optional[str]) -> str:
    """"relu1_1, relu2_1" / "relu1_1 relu2_1" -> "relu1_1,relu2_1"; "" or None -> "" (the
    engine's default). The names themselves are checked by the engine (bad_input)."""
    return ",".join(p for p in re.split(r"[\s,;]+", text or "") if p)


def build_visualize_argv(cfg: Config, job: VisualizeJob) -> List[str]:
    """The engine's ``visualize`` command line (docs/visualize.md)."""
    if not job.inputs:
        raise NstError("No images to visualize: choose a folder of images, or open some images.")
    args = [*job.inputs, "-o", job.output, "--json", job.index]
    layers = normalize_layers(job.layers)
    if layers:
        args += ["--layers", layers]
    args += ["--units", str(int(job.units)), "--top", str(int(job.top)),
             "--size", str(int(job.size)), "--cell", str(int(job.cell))]
    if job.gradients:
        args.append("--gradients")
    return engine_argv(cfg, "visualize", args, cfg.visualize_extra_args)


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
                mask: Optional[str] = None, strength: float = 0.5, preserve_color: bool = False,
                seed: int = 0) -> Job:
    """A preview job: ``content`` is already scaled to the preview's ``size``."""
    return Job(content=content, style=style, output=output, layer_size=size, mask=mask,
               strength=strength, preset="draft", size=PREVIEW_SIZE,
               preserve_color=preserve_color, seed=seed, iterations=PREVIEW_ITERATIONS,
               coarsest=PREVIEW_COARSEST)


def preview_size(width: int, height: int, longest: int = PREVIEW_SIZE) -> Tuple[int, int]:
    """The preview's (w, h): the layer scaled so its longest side is at most ``longest``."""
    scale = min(1.0, longest / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))
