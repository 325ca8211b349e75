"""The plan of a stylisation, made once: the request checked, its images loaded, the size it fits at.

``load_inputs`` refuses everything that can be refused without the network, before torch loads a
weight: every mistake becomes a clear ``bad_input`` naming the option to change. The choice
lists come from the contract (nst_contract.options), so the messages list exactly what the
command line and the plug-in offer. ``plan`` then adds what needs the network and the device
(the memory guard, budget.py) and returns the plan the job runs, which nothing changes after.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from nst_contract import options as o
from nst_contract.events import bad_input
from nst_contract.options import DEFAULT_MAX_SIZE, DEFAULT_STYLE_WEIGHT, MIN_SIDE, fit_longest
from nst_contract.requests import Region, StylizeRequest

from ..services import images
from ..services.vgg import available_layers
from . import budget, numerics
from .losses import ObjectiveSpec


@dataclass
class LoadedRegion:
    """A request's region, loaded and checked: what the objective reads.

    Not the contract's ``Region`` (nst_contract.requests), which is what the caller asks
    for — paths (or images), a blend as given or None, a mask file. Here the styles are
    decoded RGB images cut to the size they are seen at, the blend is normalised to sum to 1
    and the mask is a grayscale image at the content's size.
    """

    styles: list  # PIL RGB images
    blend: list  # weights summing to 1
    mask: object  # PIL L at the content's size, or None
    weight: float


@dataclass(frozen=True)
class JobInputs:
    """The request checked and its images loaded (``load_inputs``): all of the plan but what
    needs the network and the device."""

    content: images.SplitImage  # cut to ``output_size`` when that is smaller (never enlarged here)
    content_size: tuple  # (w, h) as decoded
    regions: tuple  # [LoadedRegion]
    output_size: tuple  # (w, h) asked for (--size, else the content's, capped)
    objective: ObjectiveSpec
    decode_bytes: int  # peak memory of decoding the largest input image
    scale_iterations: tuple = None  # the caller's iterations per scale (schedule.schedule), or None


@dataclass(frozen=True)
class StylizePlan:
    """What ``stylize()`` runs: loaded images, the result's size, the pyramid with its steps and
    tiles, the objective's layers and weights, and the memory it needs."""

    content: images.SplitImage
    content_size: tuple  # (w, h) as decoded
    regions: tuple  # [LoadedRegion]
    objective: ObjectiveSpec
    output_size: tuple  # (w, h)
    scales: list  # [(w, h)] coarse → fine
    steps: list
    tiles: list  # per scale: tile core side, or None (the whole image in one pass)
    need_bytes: int  # peak memory, estimated
    note: str = ""  # why the result is smaller than the content (memory)


def strength_to_style_weight(strength: float) -> float:
    """0..1 slider → style weight, log-scaled: 0.5 is the default, each ±1/3 is ×10."""
    return DEFAULT_STYLE_WEIGHT * 10 ** (3.0 * (strength - 0.5))


# ----------------------------------------------------------------------------- checks


def _finite_nonneg(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise bad_input(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise bad_input(f"{name} must be a finite number ≥ 0, got {value!r}")
    return value


def _weights_list(name: str, values, count: int, what: str) -> list:
    if values is None:
        return [1.0 / count] * count
    values = [_finite_nonneg(name, v) for v in values]
    if len(values) != count:
        raise bad_input(f"{name} has {len(values)} value(s) but there are {count} {what}; give one per {what[:-1]}")
    if sum(values) <= 0:
        raise bad_input(f"{name} must not be all zero")
    return [v / sum(values) for v in values]


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise bad_input(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _whole(name: str, value, least: int, unit: str = "") -> None:
    if not isinstance(value, int) or value < least:
        raise bad_input(f"{name} must be a whole number{unit} ≥ {least}, got {value!r}")


def _check_choices(req: StylizeRequest) -> None:
    _check_choice("--model", req.model, o.MODELS)
    _check_choice("--quality", req.quality, o.QUALITIES)
    _check_choice("--preserve-color", req.preserve_color, o.PRESERVE_COLOR)
    _check_choice("--optimizer", req.optimizer, o.OPTIMIZERS)
    _check_choice("--init", req.init, o.INITS)
    _check_choice("--pooling", req.pooling, o.POOLINGS)
    numerics.check_choices(req.precision, req.layout)


def _layer_weights(req: StylizeRequest) -> list:
    """The style layers' shares (summing to 1), once the layer names are known to the model."""
    names = [n for n in available_layers(req.model) if not n.startswith("pool")]
    unknown = [n for n in [req.content_layer, *req.style_layers] if n not in names]
    if unknown:
        raise bad_input(f"unknown layer name(s) {', '.join(map(repr, unknown))} for {req.model}; "
                        f"choose from {', '.join(names)}")
    if not req.style_layers:
        raise bad_input("--style-layers is empty; name at least one layer")
    return _weights_list("--style-layer-weights", req.style_layer_weights, len(req.style_layers), "style layers")


def _style_weight(req: StylizeRequest) -> float:
    """β: from --strength (0..1) when given, else --style-weight, else the default."""
    if req.strength is not None:
        try:
            return strength_to_style_weight(o.check_strength(req.strength))
        except ValueError as exc:
            raise bad_input(str(exc)) from None
    if req.style_weight is not None:
        return _finite_nonneg("--style-weight", req.style_weight)
    return DEFAULT_STYLE_WEIGHT


def _check_numbers(req: StylizeRequest) -> None:
    for name in ("content_weight", "tv_weight", "style_scale"):
        _finite_nonneg("--" + name.replace("_", "-"), getattr(req, name))
    if req.style_scale <= 0:
        raise bad_input("--style-scale must be greater than 0")


def _check_counts(req: StylizeRequest, scale_iterations) -> None:
    if req.iterations is not None:
        _whole("--iterations", req.iterations, 1)
    _whole("--coarsest", req.coarsest, MIN_SIDE, " of pixels")
    if req.lr is not None:
        _finite_nonneg("--lr", req.lr)
    if req.tile is not None:
        _whole("--tile", req.tile, MIN_SIDE, " of pixels")
    if req.threads is not None:
        _whole("--threads", req.threads, 1)
    if scale_iterations is not None:
        if not isinstance(scale_iterations, (list, tuple)) or not scale_iterations:
            raise bad_input(f"scale_iterations must be a list of iterations per scale, got {scale_iterations!r}")
        for n in scale_iterations:
            _whole("each of scale_iterations", n, 1)


# ----------------------------------------------------------------------------- the plan


def load_inputs(req: StylizeRequest, scale_iterations=None) -> JobInputs:
    """Validate everything that can be validated without the network's weights, and load the images.

    ``scale_iterations``: iterations at each scale, coarse → fine, instead of the quality's
    schedule (benchmarks compare schedules with it; see schedule.schedule)."""
    _check_choices(req)
    layer_weights = _layer_weights(req)
    _check_numbers(req)
    style_weight = _style_weight(req)
    _check_counts(req, scale_iterations)

    # Images larger than needed: JPEGs are decoded reduced (not the content when a mask must match
    # its size), and everything is cut down to the size used right after decoding.
    wanted = req.size if isinstance(req.size, int) and req.size >= MIN_SIDE else DEFAULT_MAX_SIZE
    content, content_size, decode = _content(req, wanted)
    regions, style_decode = _regions(req, content.rgb.size, round(wanted * req.style_scale))
    longest = _longest_side(req, content_size)
    out_w, out_h = fit_longest(*content_size, longest)
    if min(out_w, out_h) < MIN_SIDE:
        raise bad_input(f"at {out_w}x{out_h} the result's shorter side is under {MIN_SIDE} px, too small for "
                        f"the network; ask for --size {_least_longest(content_size)} or more, or use a less "
                        f"elongated image")
    _fit_styles(req, regions, longest)
    if out_w < content.rgb.width:  # cut down now (the same resize stylize() makes); enlarging waits for the memory check
        alpha = None if content.alpha is None else images.resize(content.alpha, (out_w, out_h))
        content = images.SplitImage(images.resize(content.rgb, (out_w, out_h)), alpha, content.gray)
    spec = ObjectiveSpec(req.content_layer, tuple(req.style_layers), tuple(layer_weights), req.content_weight,
                         style_weight, req.tv_weight, tuple((tuple(r.blend), r.weight) for r in regions))
    return JobInputs(content, content_size, tuple(regions), (out_w, out_h), spec, max(decode, style_decode),
                     None if scale_iterations is None else tuple(scale_iterations))


def plan(req: StylizeRequest, inputs: JobInputs, net, device) -> StylizePlan:
    """The plan the job runs: ``inputs`` at the size that fits in the memory free on ``device``
    for ``net`` (budget.fit: smaller when no size was asked for, else refused), with the
    pyramid's scales, steps and tiles at that size."""
    fitted = budget.fit(net, req, inputs.regions, inputs.decode_bytes, inputs.output_size,
                        inputs.scale_iterations, device)
    return StylizePlan(inputs.content, inputs.content_size, inputs.regions, inputs.objective, fitted.output_size,
                       fitted.scales, fitted.steps, fitted.tiles, fitted.need_bytes, fitted.note)


def _content(req: StylizeRequest, wanted: int) -> tuple:
    """(the content split into RGB/alpha/gray, its size as decoded, the peak memory of decoding it)."""
    has_masks = req.mask is not None or any(r.mask is not None for r in req.regions)
    content_img = images.open_image(req.content, "content image", None if has_masks else wanted)
    decode = images.decode_bytes(content_img.size, content_img.mode)
    content_size = content_img.info.get("declared_size", content_img.size)
    return images.split(content_img), content_size, decode


def _longest_side(req: StylizeRequest, content_size) -> int:
    """The result's longest side: --size, else the content's, capped at DEFAULT_MAX_SIZE."""
    if req.size is not None:
        _whole("--size", req.size, MIN_SIDE, " of pixels")
    return o.result_longest(*content_size, req.size)


def _least_longest(size) -> int:
    """The smallest longest side at which an image of ``size`` has a shorter side of MIN_SIDE."""
    longest = math.ceil(MIN_SIDE * max(size) / min(size))
    while min(fit_longest(*size, longest)) < MIN_SIDE:
        longest += 1
    return longest


def _fit_styles(req: StylizeRequest, regions: list, longest: int) -> None:
    """Refuse a style seen too small; cut each down to its view at the finest scale."""
    for region in regions:
        for i, style in enumerate(region.styles):
            sw, sh = fit_longest(*style.size, round(longest * req.style_scale))
            if min(sw, sh) < MIN_SIDE:
                raise bad_input(f"the style image would be seen at {sw}x{sh}, under {MIN_SIDE} px on its "
                                f"shorter side; raise --style-scale or --size")
            if max(style.size) > max(sw, sh):  # never used larger than its view at the finest scale
                region.styles[i] = images.resize(style, (sw, sh))


def _regions(req: StylizeRequest, content_size, style_longest: int) -> tuple[list, int]:
    """The regions, loaded (``LoadedRegion``), and the peak memory of decoding their images."""
    if req.regions and (req.styles or req.mask is not None):
        raise bad_input("use either --region MASK:STYLE (one or more) or --style/--mask, not both")
    specs = req.regions or [Region(styles=list(req.styles), mask=req.mask, blend=req.style_blend)]
    if not specs[0].styles:
        raise bad_input("no style image given: add --style STYLE (or --region MASK:STYLE)")
    out, decode = [], 0
    for i, spec in enumerate(specs):
        where = f" (region {i + 1})" if req.regions else ""
        styles = []
        for path in spec.styles:
            img = images.open_image(path, f"style image{where}", style_longest)
            decode = max(decode, images.decode_bytes(img.size, img.mode))
            styles.append(img.convert("RGB"))
        blend = _weights_list("--style-blend", spec.blend, len(styles), "styles")
        mask = None if spec.mask is None else images.load_mask(spec.mask, content_size, f"mask{where}")
        if mask is not None:
            decode = max(decode, images.decode_bytes(mask.size, "L"))
        if mask is not None and mask.getextrema()[1] == 0:
            raise bad_input(f"the mask {spec.mask!r}{where} is all black, so nothing would be stylised; "
                            "white marks where the style goes")
        weight = _finite_nonneg(f"region weight{where}", spec.weight)
        out.append(LoadedRegion(styles, blend, mask, weight))
    return out, decode
