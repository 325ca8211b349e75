"""Plain data classes: what a caller asks for, what it hears while waiting, what it gets."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

DEFAULT_CONTENT_LAYER = "relu4_2"
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# Scale-free objective (see losses.py): both terms are relative errors, so these
# weights mean the same at any size. With them the Tübingen photo takes on the
# brush strokes and palette of a painting while its buildings stay recognisable
# (README has the picture); strength 0.5 ⇔ this style weight.
DEFAULT_CONTENT_WEIGHT = 1.0
DEFAULT_STYLE_WEIGHT = 20.0
DEFAULT_TV_WEIGHT = 0.0
# The result is the content's own size up to this longest side (above it, the largest size
# that fits, said in the start event); scales larger than one tile are optimised tile by tile.
DEFAULT_MAX_SIZE = 4096
# Tiles: a scale whose whole-image pass does not fit in the memory measured free is computed
# tile by tile (tiles.py), with cores of TILE_SIZE px, halved down to MIN_TILE_SIZE until it fits.
TILE_SIZE = 1024
MIN_TILE_SIZE = 256
# The pyramid's coarsest scale (longest side). Below 256 px VGG's deep layers see too little,
# and the objective there is a different problem: a 128 px stage (3 scales at 512 px) gave a
# worse full-size objective for more time than starting at 256 px (README "Benchmarks").
# A preview, which wants a first picture more than the best objective, starts lower.
DEFAULT_COARSEST = 256

# Iterations at the finest scale. Each coarser scale gets COARSE_SHARE of that: the
# coarse scales only have to lay out the large shapes (big swirls, where the colour
# masses go). More coarse iterations do not help the full-size result, because the
# fine texture they build is lost when the image is upsampled (measured at 512 px,
# README "Benchmarks": 200/100/50 iterations at 128/256/512 px ran 93 s and ended
# above the objective that 30/50 at 256/512 px reached after 54.5 s).
QUALITY_ITERATIONS = {"draft": 20, "balanced": 50, "best": 150}
COARSE_SHARE = 0.6
# Scales above DETAIL_SIDE only refine the detail the coarser scales laid out, and each of their
# steps costs 4x the previous scale's: the first such scale gets FINE_ITERATIONS[quality] and
# each further doubling half as many (at least 1). A 2048 px balanced run: 30/30/6/3 at
# 256/512/1024/2048 px, so most of the time goes where it is cheap (README "Full size").
DETAIL_SIDE = 512
FINE_ITERATIONS = {"draft": 2, "balanced": 6, "best": 20}
SINGLE_SCALE_ITERATIONS = {"draft": 100, "balanced": 300, "best": 600}

# What the VGG computes in and its memory layout; AUTO = the fastest measured here (numerics.py).
AUTO = "auto"
PRECISIONS = ("fp32", "bf16")
LAYOUTS = ("contiguous", "channels-last")


def strength_to_style_weight(strength: float) -> float:
    """0..1 slider → style weight, log-scaled: 0.5 is the default, each ±1/3 is ×10."""
    return DEFAULT_STYLE_WEIGHT * 10 ** (3.0 * (strength - 0.5))


@dataclass
class Region:
    """Part of the content (``mask``: path of a grayscale image, None = everywhere) and its style(s)."""

    styles: list
    mask: object = None
    blend: list | None = None
    weight: float = 1.0


@dataclass
class StylizeRequest:
    content: object  # path or PIL image
    output: object = None  # path; None = don't write (the result carries the image)
    styles: list = field(default_factory=list)
    style_blend: list | None = None
    mask: object = None
    regions: list = field(default_factory=list)  # alternative to styles/mask: several Region
    size: int | None = None  # longest side of the result; None = content's, capped at DEFAULT_MAX_SIZE
    tile: int | None = None  # tile core side; None = tile only where the whole image does not fit
    quality: str = "balanced"
    iterations: int | None = None
    strength: float | None = None
    content_weight: float = DEFAULT_CONTENT_WEIGHT
    style_weight: float | None = None
    tv_weight: float = DEFAULT_TV_WEIGHT
    content_layer: str = DEFAULT_CONTENT_LAYER
    style_layers: tuple = DEFAULT_STYLE_LAYERS
    style_layer_weights: list | None = None
    style_scale: float = 1.0
    preserve_color: str = "none"
    model: str = "vgg19"
    weights: object = None
    pooling: str = "max"
    optimizer: str = "lbfgs"
    lr: float | None = None
    init: str = "content"
    seed: int = 0
    pyramid: bool = True
    coarsest: int = DEFAULT_COARSEST  # longest side of the pyramid's first scale
    # Keep pixels in [0, 1] after every step, so the objective being minimised is the
    # saved image's. False = the classic unconstrained run, clamped only when saved
    # (the benchmark's reference; not offered on the command line).
    bounded: bool = True
    device: str = "auto"
    threads: int | None = None
    precision: str = AUTO  # auto (measured, numerics.py), fp32 or bf16: what the VGG's layers compute in
    layout: str = AUTO  # auto, contiguous or channels-last: the activations' memory layout


@dataclass
class Started:
    content_size: tuple
    output_size: tuple
    scales: list
    steps: list
    device: str
    model: str
    weights: str
    memory_estimate_mb: float
    weights_source: str = ""  # where the weights come from (weights.describe)
    weights_sha256: str = ""  # its sha256 prefix
    numerics: dict | None = None  # {"precision", "layout", "how"}: what the VGG runs in and why
    tiles: list | None = None  # per scale: tile core side, or None where the whole image is one pass
    note: str = ""  # why the result is smaller than asked (memory), for people

    def to_event(self) -> dict:
        return {"event": "start", **asdict(self), "total_steps": sum(self.steps)}


@dataclass
class Progress:
    scale: int
    scales: int
    size: tuple
    step: int
    steps: int
    fraction: float
    elapsed_s: float
    eta_s: float | None
    loss: dict
    tile: list | None = None  # [tiles done, tiles in this step] while a tiled step is under way

    def to_event(self) -> dict:
        label = f"scale {self.scale + 1}/{self.scales} " + (f"step {self.step}/{self.steps}" if self.step else "setup")
        if self.tile:
            label += f" tile {self.tile[0]}/{self.tile[1]}"
        return {"event": "progress", **asdict(self), "label": label}


@dataclass
class StylizeResult:
    image: object  # PIL image, as written
    output: object
    seconds: float
    loss: dict
    size: tuple

    def to_event(self) -> dict:
        return {"event": "done", "output": str(self.output) if self.output else None,
                "seconds": round(self.seconds, 3), "loss": self.loss, "size": list(self.size)}
