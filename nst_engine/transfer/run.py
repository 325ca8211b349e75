"""``stylize()``: Gatys et al.'s pixel-space optimisation, coarse to fine.

1. check the request and load the images (every mistake becomes a clear ``bad_input``);
2. pick a device, load the VGG truncated after the deepest layer needed, and refuse
   a job that would not fit in memory (saying what size would);
3. optimise at each pyramid scale (small first, then upsample and refine), with
   the style statistics of every region computed inside that region only;
4. put back what the user asked to keep (content colours, outside-region pixels,
   gray, alpha) and write the result atomically.
"""
from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

import torch

from .. import color, devices, images, memory, numerics, quick_start, tiles
from ..cancel import check
from ..errors import EngineError, bad_input
from ..images import MIN_SIDE
from ..losses import carry_mask, gram, relative_sq_error, tv_loss
from ..request import (COARSE_SHARE, DEFAULT_MAX_SIZE, DEFAULT_STYLE_WEIGHT, DETAIL_SIDE, FINE_ITERATIONS,
                      MIN_TILE_SIZE, QUALITY_ITERATIONS, SINGLE_SCALE_ITERATIONS, TILE_SIZE, Progress, Region, Started, StylizeRequest, StylizeResult,
                      strength_to_style_weight)
from ..vgg import MODELS, available_layers
from ..weights import describe, load_features

LBFGS_HISTORY = 50
# At scales above DETAIL_SIDE (few steps each) a scale ends with the lowest-objective image it
# evaluated, not necessarily its last: without a line search L-BFGS can overshoot right after a
# scale change (measured: 1024 px balanced, objective 11.8 → 227 at the 5th of 6 steps: noise).
# The optimiser itself is left alone: it recovers from such a rise (1024 px of a 2048 px balanced
# job: 11.98 → 21.08 → 8.28 → 6.82). Undoing the rise and restarting L-BFGS (tried, issue 14) threw
# its curvature away, and a fresh L-BFGS's first step is a tiny gradient step (lr / |g|₁): that
# 1024 px scale would have ended at ≈ 11.98, and a 2048 px job's objective was 10.9 instead of 6.2.


class _Best:
    """The lowest-objective image a scale evaluated, with its terms."""

    def __init__(self):
        self.total, self.image, self.terms = math.inf, None, None

    def offer(self, terms: dict, image) -> None:
        if terms["total"] < self.total:
            self.total, self.image, self.terms = terms["total"], image, dict(terms)


# ----------------------------------------------------------------------------- checking


@dataclass
class _Region:
    styles: list  # PIL RGB images
    blend: list  # weights summing to 1
    mask: object  # PIL L at the content's size, or None
    weight: float


@dataclass
class _Plan:
    content: images.SplitImage
    regions: list
    output_size: tuple  # (w, h)
    scales: list  # [(w, h)] coarse → fine
    steps: list
    style_weight: float
    layer_weights: list
    content_size: tuple = None  # (w, h) as decoded; ``content`` is cut to ``output_size``
    decode_bytes: int = 0  # peak memory of decoding the largest input image
    note: str = ""  # why the result is smaller than the content (memory)


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


def plan(req: StylizeRequest) -> _Plan:
    """Validate everything that can be validated without the network's weights."""
    _check_choice("--model", req.model, tuple(MODELS))
    _check_choice("--quality", req.quality, tuple(QUALITY_ITERATIONS))
    _check_choice("--preserve-color", req.preserve_color, ("none", "luminance", "histogram"))
    _check_choice("--optimizer", req.optimizer, ("lbfgs", "adam"))
    _check_choice("--init", req.init, ("content", "noise"))
    _check_choice("--pooling", req.pooling, ("max", "avg"))
    numerics.check_choices(req.precision, req.layout)
    names = [n for n in available_layers(req.model) if not n.startswith("pool")]
    wanted = [req.content_layer, *req.style_layers]
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise bad_input(f"unknown layer name(s) {', '.join(map(repr, unknown))} for {req.model}; "
                        f"choose from {', '.join(names)}")
    if not req.style_layers:
        raise bad_input("--style-layers is empty; name at least one layer")
    layer_weights = _weights_list("--style-layer-weights", req.style_layer_weights,
                                  len(req.style_layers), "style layers")
    for name in ("content_weight", "tv_weight", "style_scale"):
        _finite_nonneg("--" + name.replace("_", "-"), getattr(req, name))
    if req.style_scale <= 0:
        raise bad_input("--style-scale must be greater than 0")
    if req.strength is not None:
        strength = _finite_nonneg("--strength", req.strength)
        if strength > 1:
            raise bad_input(f"--strength must be between 0 and 1, got {strength}")
        style_weight = strength_to_style_weight(strength)
    elif req.style_weight is not None:
        style_weight = _finite_nonneg("--style-weight", req.style_weight)
    else:
        style_weight = DEFAULT_STYLE_WEIGHT
    if req.iterations is not None and (not isinstance(req.iterations, int) or req.iterations < 1):
        raise bad_input(f"--iterations must be a whole number ≥ 1, got {req.iterations!r}")
    if not isinstance(req.coarsest, int) or req.coarsest < MIN_SIDE:
        raise bad_input(f"--coarsest must be a whole number of pixels ≥ {MIN_SIDE}, got {req.coarsest!r}")
    if req.lr is not None:
        _finite_nonneg("--lr", req.lr)
    if req.tile is not None and (not isinstance(req.tile, int) or req.tile < MIN_SIDE):
        raise bad_input(f"--tile must be a whole number of pixels ≥ {MIN_SIDE}, got {req.tile!r}")
    if req.threads is not None and (not isinstance(req.threads, int) or req.threads < 1):
        raise bad_input(f"--threads must be a whole number ≥ 1, got {req.threads!r}")

    # Images larger than needed: JPEGs are decoded reduced (not the content when a mask must match
    # its size), and everything is cut down to the size used right after decoding.
    wanted = req.size if isinstance(req.size, int) and req.size >= MIN_SIDE else DEFAULT_MAX_SIZE
    has_masks = req.mask is not None or any(r.mask is not None for r in req.regions)
    content_img = images.open_image(req.content, "content image", None if has_masks else wanted)
    decode = memory.decode_bytes(content_img.size, content_img.mode)
    content_size = content_img.info.get("declared_size", content_img.size)
    content = images.split(content_img)
    del content_img
    regions, style_decode = _regions(req, content.rgb.size, round(wanted * req.style_scale))

    w, h = content_size
    if req.size is None:
        longest = min(max(w, h), DEFAULT_MAX_SIZE)
    else:
        if not isinstance(req.size, int) or req.size < MIN_SIDE:
            raise bad_input(f"--size must be a whole number of pixels ≥ {MIN_SIDE}, got {req.size!r}")
        longest = req.size
    out_w, out_h = images.fit_longest(w, h, longest)
    if min(out_w, out_h) < MIN_SIDE:
        raise bad_input(f"at {out_w}x{out_h} the result's shorter side is under {MIN_SIDE} px, too small for "
                        f"the network; ask for a larger --size or use a less elongated image")
    for region in regions:
        for i, style in enumerate(region.styles):
            sw, sh = images.fit_longest(*style.size, round(longest * req.style_scale))
            if min(sw, sh) < MIN_SIDE:
                raise bad_input(f"the style image would be seen at {sw}x{sh}, under {MIN_SIDE} px on its "
                                f"shorter side; raise --style-scale or --size")
            if max(style.size) > max(sw, sh):  # never used larger than its view at the finest scale
                region.styles[i] = images.resize(style, (sw, sh))

    if out_w < content.rgb.width:  # cut down now (the same resize stylize() makes); enlarging waits for the memory check
        alpha = None if content.alpha is None else images.resize(content.alpha, (out_w, out_h))
        content = images.SplitImage(images.resize(content.rgb, (out_w, out_h)), alpha, content.gray)
    scales, steps = _schedule(req, (out_w, out_h))
    return _Plan(content, regions, (out_w, out_h), scales, steps, style_weight, layer_weights,
                 content_size, max(decode, style_decode))


def _regions(req: StylizeRequest, content_size, style_longest: int) -> tuple[list, int]:
    """The regions, and the peak memory of decoding their images."""
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
            decode = max(decode, memory.decode_bytes(img.size, img.mode))
            styles.append(img.convert("RGB"))
        blend = _weights_list("--style-blend", spec.blend, len(styles), "styles")
        mask = None if spec.mask is None else images.load_mask(spec.mask, content_size, f"mask{where}")
        if mask is not None:
            decode = max(decode, memory.decode_bytes(mask.size, "L"))
        if mask is not None and mask.getextrema()[1] == 0:
            raise bad_input(f"the mask {spec.mask!r}{where} is all black, so nothing would be stylised; "
                            "white marks where the style goes")
        weight = _finite_nonneg(f"region weight{where}", spec.weight)
        out.append(_Region(styles, blend, mask, weight))
    return out, decode


def _schedule(req: StylizeRequest, size) -> tuple[list, list]:
    """Pyramid scales (coarse → fine) and iterations at each.

    Up to DETAIL_SIDE: QUALITY_ITERATIONS at the finest of those scales, COARSE_SHARE of it at
    the coarser ones. Above it: FINE_ITERATIONS[quality], halved at each further doubling."""
    w, h = size
    if not req.pyramid or max(w, h) < 2 * req.coarsest:
        n = 1
    else:
        n = 1 + int(math.log2(max(w, h) / req.coarsest))
    if n == 1:
        iterations = req.iterations or (SINGLE_SCALE_ITERATIONS if not req.pyramid else QUALITY_ITERATIONS)[req.quality]
        return [(w, h)], [iterations]
    scales = pyramid_scales(size, n)
    fine = [s for s in scales if max(s) > DETAIL_SIDE and s != scales[0]]
    finest = req.iterations or QUALITY_ITERATIONS[req.quality]
    coarse = max(1, round(finest * COARSE_SHARE))
    detail = scales[:len(scales) - len(fine)]
    steps = [coarse] * (len(detail) - 1) + [finest if not fine else coarse]
    for j in range(len(fine)):
        steps.append(max(1, round(FINE_ITERATIONS[req.quality] / 2 ** j)))
    if fine and req.iterations:  # asked for: the finest scale gets exactly that many
        steps[-1] = req.iterations
    return scales, steps


def pyramid_scales(size, n: int) -> list:
    """``n`` sizes, coarse → fine, each half the next; the last is ``size``."""
    w, h = size
    return [(max(1, round(w / 2 ** j)), max(1, round(h / 2 ** j))) for j in reversed(range(n))]


# ----------------------------------------------------------------------------- objective


class Objective:
    """J = α·J_content + β·J_style + γ·J_tv at one scale, with targets computed once."""

    def __init__(self, net, req: StylizeRequest, plan_: _Plan, content: torch.Tensor, styles, masks,
                 grams_of=None):
        """``grams_of(style tensor)`` → {layer: Gram}; default: computed here (``Reuse`` caches them)."""
        self.net, self.req, self.plan = net, req, plan_
        self.layers = list(dict.fromkeys([req.content_layer, *req.style_layers]))
        grams_of = grams_of or (lambda style: style_grams(net, style, req.style_layers))
        with torch.no_grad():
            self.content_target = net(content, [req.content_layer])[req.content_layer]
        self.targets = []  # per region: ({layer: Gram}, {layer: mask or None}, weight)
        for grams, mask, weight in region_targets(req, plan_, styles, masks, grams_of):
            layer_masks = {layer: None for layer in req.style_layers}
            if mask is not None:
                down = carry_mask(mask, net.geometry(net.names[-1]))
                layer_masks = {layer: down[layer] for layer in req.style_layers}
            self.targets.append((grams, layer_masks, weight))

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict]:
        feats = self.net(image, self.layers)
        content = relative_sq_error(feats[self.req.content_layer], self.content_target)
        style = 0
        for grams, layer_masks, weight in self.targets:
            for layer, share in zip(self.req.style_layers, self.plan.layer_weights):
                style = style + weight * share * relative_sq_error(gram(feats[layer], layer_masks[layer]), grams[layer])
        tv = tv_loss(image) if self.req.tv_weight else image.new_zeros(())
        total = self.req.content_weight * content + self.plan.style_weight * style + self.req.tv_weight * tv
        terms = {name: float(v.detach()) if torch.is_tensor(v) else float(v)
                 for name, v in (("content", content), ("style", style), ("tv", tv), ("total", total))}
        return total, terms


def region_targets(req, plan_, styles, masks, grams_of) -> list:
    """Per region: ({layer: the blend of its styles' Grams}, its mask at this scale or None, weight)."""
    out = []
    with torch.no_grad():
        for region, region_styles, mask in zip(plan_.regions, styles, masks):
            grams = {layer: 0 for layer in req.style_layers}
            for style, share in zip(region_styles, region.blend):
                style_gram = grams_of(style)
                for layer in req.style_layers:
                    grams[layer] = grams[layer] + share * style_gram[layer]
            out.append((grams, mask, region.weight))
    return out


def style_grams(net, style: torch.Tensor, layers) -> dict:
    """{layer: Gram matrix} of one style image as the network sees it: the style targets."""
    with torch.no_grad():
        feats = net(style, layers)
        return {layer: gram(feats[layer]) for layer in layers}


class Reuse:
    """What a long-lived engine (``serve``) keeps between ``stylize()`` calls: the loaded
    networks and the style images' Gram targets.

    Grams are keyed by a digest of the exact tensor the network sees (plus the network and the
    layers), not by the style's file name: a changed file, result size, style scale or colour
    option gives a different tensor, so a stale entry can never be hit, and the same style at
    the same size is recomputed never. ``hits``/``misses`` count Gram look-ups (tests, logs).
    """

    def __init__(self, max_grams: int = 32):
        self.networks = {}
        self.grams = OrderedDict()
        self.max_grams = max_grams
        self.hits = self.misses = 0

    def network(self, req: StylizeRequest, device) -> tuple:
        key = (req.model, str(req.weights), req.pooling, req.content_layer, tuple(req.style_layers), str(device),
               req.precision, req.layout)
        if key not in self.networks:
            self.networks[key] = network(req, device)
        return self.networks[key]

    def style_grams(self, net, style: torch.Tensor, layers) -> dict:
        digest = hashlib.sha1(style.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
        key = (id(net), tuple(layers), tuple(style.shape), digest)
        if key in self.grams:
            self.hits += 1
            self.grams.move_to_end(key)
            return self.grams[key]
        self.misses += 1
        self.grams[key] = style_grams(net, style, layers)
        while len(self.grams) > self.max_grams:
            self.grams.popitem(last=False)
        return self.grams[key]


# ----------------------------------------------------------------------------- running


def _tensor_mask(mask_img, hw, device) -> torch.Tensor | None:
    if mask_img is None:
        return None
    return images.resize_tensor(images.to_tensor(mask_img), hw).to(device)


def _union(masks):
    present = [m for m in masks if m is not None]
    if len(present) < len(masks) or not present:
        return None  # some region covers everything
    union = present[0]
    for m in present[1:]:
        union = torch.maximum(union, m)
    return union


def _composite(x, content, union):
    return x if union is None else union * x + (1 - union) * content


def _optimizer(req: StylizeRequest, x):
    quick_start.skip_dynamo_import()  # 2 s less before the first step (quick_start.py)
    if req.optimizer == "adam":
        return torch.optim.Adam([x], lr=req.lr or 0.02)
    return torch.optim.LBFGS([x], lr=req.lr or 1.0, max_iter=1, history_size=LBFGS_HISTORY,
                             tolerance_grad=-1, tolerance_change=-1)


def _style_views(req, region_styles_t, scale_size, device):
    """Each style image at style_scale × this scale's longest side."""
    longest = round(max(scale_size) * req.style_scale)
    out = []
    for styles in region_styles_t:
        views = []
        for s in styles:
            w, h = images.fit_longest(s.shape[-1], s.shape[-2], longest)
            views.append(images.resize_tensor(s, (h, w)).to(device))
        out.append(views)
    return out


def _style_hws(req, plan_, longest: int) -> list:
    return [images.fit_longest(*s.size, round(longest * req.style_scale))[::-1] for r in plan_.regions for s in r.styles]


def _scale_need(net, req, size, steps: int, style_hws, have) -> tuple:
    """(tile core side or None, bytes) for one scale: the whole image in one pass when it fits
    in ``have`` (or a tile was not asked for), else the largest tile that fits."""
    w, h = size
    history = min(LBFGS_HISTORY, steps) if req.optimizer == "lbfgs" else 2
    if req.tile:
        candidates = [req.tile] if max(w, h) > req.tile else [None]
    else:
        candidates = [None] + [t for t in (TILE_SIZE >> k for k in range(8)) if MIN_TILE_SIZE <= t < max(w, h)]
    for tile in candidates:
        if tile is None:
            need = memory.estimate_bytes(net, (h, w), style_hws, history)
        else:
            crop_hw = max(((y1 - y0, x1 - x0) for y0, y1, x0, x1 in (t.crop for t in tiles.layout((h, w), tile))),
                          key=lambda hw: hw[0] * hw[1])
            need = memory.tiled_bytes(net, (h, w), crop_hw, history, req.content_layer)
        if have is None or need <= 0.9 * have or tile == candidates[-1]:
            return tile, need


def _job_need(net, req, plan_, scales, steps, have) -> tuple:
    """([tile per scale], peak bytes of the whole job)."""
    found = [_scale_need(net, req, size, n, _style_hws(req, plan_, max(size)), have) for size, n in zip(scales, steps)]
    return [t for t, _ in found], max(need for _, need in found) + plan_.decode_bytes


def _check_memory(net, req, plan_, device) -> tuple:
    """(MiB needed, tile per scale); a job that cannot fit is refused up front with the size
    that fits, or, when no size was asked for, made that size (``plan_.note`` says so)."""
    have = devices.available_bytes(device)
    tiles_, need = _job_need(net, req, plan_, plan_.scales, plan_.steps, have)
    if have is None or need <= 0.9 * have:
        return need / 2**20, tiles_
    w, h = plan_.output_size
    lo, hi = MIN_SIDE, max(w, h)
    while lo < hi:  # largest longest side that fits
        mid = (lo + hi + 1) // 2
        scales, steps = _schedule(req, images.fit_longest(w, h, mid))
        if _job_need(net, req, plan_, scales, steps, have)[1] <= 0.9 * have:
            lo = mid
        else:
            hi = mid - 1
    if req.size is None and lo > MIN_SIDE:
        out_w, out_h = images.fit_longest(w, h, lo)
        plan_.note = (f"the {w}x{h} result would need about {need / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB "
                      f"is free, so the result is {out_w}x{out_h}, the largest size that fits")
        plan_.output_size = (out_w, out_h)
        plan_.scales, plan_.steps = _schedule(req, (out_w, out_h))
        tiles_, need = _job_need(net, req, plan_, plan_.scales, plan_.steps, have)
        return need / 2**20, tiles_
    fits = f"the largest size that fits is about --size {lo}" if lo > MIN_SIDE else "no size fits"
    raise EngineError("out_of_memory",
                      f"a {w}x{h} result needs about {need / 2**30:.1f} GiB on {device.type} but only "
                      f"{have / 2**30:.1f} GiB is free; {fits} (or free memory / use another device)")


def network(req: StylizeRequest, device, fresh: bool = False) -> tuple:
    """(VGG features for this request, where the weights came from, its ``Numerics``): truncated
    after the deepest layer the objective needs, on ``device``, in the precision and layout
    measured fastest on this machine (numerics.py) or asked for."""
    net, source = load_features(req.model, req.weights, req.pooling)
    net = net.truncate([req.content_layer, *req.style_layers]).to(device)
    layout = req.layout
    if device.type == "mps" and layout == numerics.AUTO:
        layout = "contiguous"  # MPS's channels-last convolutions are not dependable across versions
    chosen = numerics.resolve(net, device, req.model, req.precision, layout, fresh=fresh)
    return net, source, chosen


def stylize(request: StylizeRequest, on_progress=None, cancel=None, reuse: Reuse | None = None,
            snapshots=None) -> StylizeResult:
    """Stylise ``request.content``; ``on_progress`` gets ``Started`` then ``Progress`` events.

    ``cancel`` (a ``CancelToken``) is checked once per optimisation step; a
    cancelled run raises ``Cancelled`` and writes nothing. ``reuse`` keeps the network
    and style Grams between calls (``serve``). ``snapshots`` = (every N steps,
    callback(Progress, PIL image)): the picture so far, for previews that show it early.
    """
    t0 = time.perf_counter()
    req = request
    check(cancel)  # a SIGTERM while torch was importing
    if req.output is not None:
        inputs = [req.content, *req.styles, req.mask] + [p for r in req.regions for p in (*r.styles, r.mask)]
        images.check_output_path(req.output, inputs)
    plan_ = plan(req)
    device = devices.pick(req.device)
    devices.set_threads(req.threads)
    net, source, chosen = network(req, device) if reuse is None else reuse.network(req, device)
    need_mb, tile_plan = _check_memory(net, req, plan_, device)
    check(cancel)
    emit = on_progress or (lambda _event: None)
    named = describe(req.model, req.weights)
    emit(Started(plan_.content_size, plan_.output_size, plan_.scales, plan_.steps, str(device),
                 req.model, source, round(need_mb, 1), named["weights_source"], named["weights_sha256"],
                 chosen.summary(), tile_plan, plan_.note))
    check(cancel)

    out_w, out_h = plan_.output_size
    content_full = images.to_tensor(images.resize(plan_.content.rgb, (out_w, out_h))).to(device)
    styles_t = [[images.to_tensor(s).to(device) for s in r.styles] for r in plan_.regions]
    target_content = content_full
    if req.preserve_color == "luminance":
        target_content = color.as_gray_rgb(color.luminance(content_full))
        styles_t = [[color.match_luminance(s, content_full) for s in ss] for ss in styles_t]
    elif req.preserve_color == "histogram":
        styles_t = [[color.match_histogram(s, content_full) for s in ss] for ss in styles_t]

    generator = torch.Generator().manual_seed(int(req.seed))
    costs = [s * _step_cost((w, h), tile) for s, (w, h), tile in zip(plan_.steps, plan_.scales, tile_plan)]
    setups = [_setup_cost(size, tile, _style_hws(req, plan_, max(size))) for size, tile in zip(plan_.scales, tile_plan)]
    done_cost, total_cost = 0.0, float(sum(costs) + sum(setups))
    x, terms = None, {}
    for k, ((w, h), steps, tile) in enumerate(zip(plan_.scales, plan_.steps, tile_plan)):
        content = images.resize_tensor(target_content, (h, w))
        masks = [_tensor_mask(r.mask, (h, w), device) for r in plan_.regions]
        union = _union(masks)
        def on_tile(done, total, k=k, w=w, h=h, steps=steps):
            step = now["step"]  # 0: the scale's setup (the styles' Grams, the content's features)
            start = done_cost + (costs[k] * (step - 1) / steps if step else 0)  # done_cost has the setup once over
            fraction = (start + (costs[k] / steps if step else setups[k]) * done / total) / total_cost
            elapsed = time.perf_counter() - t0
            emit(Progress(k, len(plan_.scales), (w, h), step, steps, round(fraction, 5), round(elapsed, 3),
                          round(elapsed * (1 - fraction) / fraction, 1) if fraction > 0 else None, dict(terms),
                          [done, total]))

        now = {"step": 0}
        evaluate, value = _scale_objective(net, req, plan_, content, _style_views(req, styles_t, (w, h), device),
                                           masks, tile, reuse, cancel, on_tile, on_tile)
        done_cost += setups[k]
        if x is None:
            x = content.clone() if req.init == "content" else torch.rand(content.shape, generator=generator).to(device)
        else:
            x = images.resize_tensor(x, (h, w))
        x = _composite(x, content, union).detach().requires_grad_(True)
        opt = _optimizer(req, x)

        def closure():
            nonlocal terms, at
            opt.zero_grad()
            at = x.detach().clone()
            total, terms = evaluate(_composite(x, content, union))
            return total

        best, at = _Best(), None
        guarded = max(w, h) > DETAIL_SIDE  # few steps after a scale change: where L-BFGS overshoots

        for step in range(1, steps + 1):
            check(cancel)
            now["step"] = step
            opt.step(closure)
            if req.bounded:
                # Projection onto the box: the objective L-BFGS sees is then the one of
                # an image that can be saved. Clamping only at the end throws away what the
                # optimiser gained outside [0, 1] (measured: 0.92 in-run vs 1.23 saved).
                with torch.no_grad():
                    x.clamp_(0, 1)
            if not math.isfinite(terms["total"]):
                raise EngineError("internal", "the optimisation diverged (loss is not finite); "
                                  "try --optimizer adam or a smaller --lr")
            if guarded:
                best.offer(terms, at)  # ``terms`` are those of ``at``, the image this step started from
            fraction = (done_cost + costs[k] * step / steps) / total_cost
            elapsed = time.perf_counter() - t0
            eta = elapsed * (1 - fraction) / fraction if fraction > 0 else None
            progress = Progress(k, len(plan_.scales), (w, h), step, steps, round(fraction, 5), round(elapsed, 3),
                                None if eta is None else round(eta, 1), dict(terms))
            emit(progress)
            last_scale = k == len(plan_.scales) - 1
            if snapshots and (step % snapshots[0] == 0 or step == steps) and not (last_scale and step == steps):
                # every N steps and at the end of each coarser scale; at the result's size
                picture = images.resize_tensor(x.detach().clamp(0, 1), (out_h, out_w))
                snapshots[1](progress, _render(picture, content_full, plan_, req, device, (out_w, out_h)))
        done_cost += costs[k]
        x = _composite(x, content, union).detach().clamp(0, 1)
        if guarded or k == len(plan_.scales) - 1:
            final_terms = value(x)
        if guarded and final_terms["total"] > best.total:  # the last updates overshot: keep the best
            x = _composite(best.image, content, union).clamp(0, 1)
            # bounded: ``at`` was already in [0, 1], so its terms are those of ``x``
            final_terms = best.terms if req.bounded else value(x)
    check(cancel)

    image = _render(x, content_full, plan_, req, device, (out_w, out_h))
    check(cancel)
    if req.output is not None:
        images.save_atomic(image, req.output)
    return StylizeResult(image, req.output, time.perf_counter() - t0, final_terms, (out_w, out_h))


def _step_cost(size, tile) -> float:
    """Relative cost of one optimisation step: pixels through the network, and for a tiled
    scale its halos and the extra forward pass that sums the whole image's Grams (tiles.py)."""
    w, h = size
    if tile is None:
        return float(w * h)
    crops = tiles.layout((h, w), tile)
    return 4 / 3 * sum((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in (t.crop for t in crops))


def _setup_cost(size, tile, style_hws) -> float:
    """Relative cost (``_step_cost``'s unit) of a scale's setup: one forward pass (≈ 1/3 of a
    forward+backward) of each style image and of the content, with halos when tiled."""
    pixels = sum(h * w for h, w in style_hws) + size[0] * size[1]
    return pixels / 3 * (_step_cost(size, tile) * 3 / 4 / (size[0] * size[1]) if tile else 1)


def _scale_objective(net, req, plan_, content, styles, masks, tile, reuse, cancel, on_tile=None,
                     on_setup=None) -> tuple:
    """(evaluate, value) at one scale. ``evaluate(image)`` → (total, terms) and leaves the
    gradient on ``image``'s graph; ``value(image)`` → terms. Tiled when ``tile`` is set, and then
    ``on_setup(done, total)`` follows the tiles of the styles' Grams and the content's features."""
    if tile is None:
        objective = Objective(net, req, plan_, content, styles, masks,
                              None if reuse is None else (lambda s: reuse.style_grams(net, s, req.style_layers)))

        def evaluate(image):
            total, terms = objective(image)
            total.backward()
            return total, terms

        def value(image):
            with torch.no_grad():
                return objective(image)[1]
        return evaluate, value

    def count(hw):
        return len(tiles.layout(tuple(hw), tile, tiles.align_of(net)))

    setup = {"done": 0, "total": sum(count(s.shape[-2:]) for ss in styles for s in ss) + count(content.shape[-2:])}

    def tick():
        setup["done"] += 1
        if on_setup is not None:
            on_setup(setup["done"], setup["total"])

    targets = region_targets(req, plan_, styles, masks,
                             lambda s: tiles.tiled_grams(net, s, req.style_layers, tile, cancel, tick))
    objective = tiles.TiledObjective(net, req, plan_.layer_weights, plan_.style_weight, content, targets, tile, cancel,
                                     on_tile, tick)

    def evaluate(image):
        total, terms, grad = objective.value_and_grad(image)
        image.backward(grad)  # through the region composite, onto the optimised pixels
        return total, terms
    return evaluate, objective.value


def _render(x, content_full, plan_: _Plan, req: StylizeRequest, device, size):
    """``x`` (at ``size``) as the picture that is saved: the content's colours back (luminance),
    the content itself outside the region, gray and alpha as the content had them."""
    w, h = size
    with torch.no_grad():
        content = images.resize_tensor(content_full, (h, w))
        styled = color.recombine(x, content) if req.preserve_color == "luminance" else x
        union = _union([_tensor_mask(r.mask, (h, w), device) for r in plan_.regions])
        # Outside the region the result is the content itself, exactly (0·styled + 1·content).
        result = _composite(styled, content, union)
    return _finish(images.to_pil(result), plan_.content, size)


def _finish(image, content: images.SplitImage, size):
    """Gray in → gray out; the content's alpha goes back on."""
    if content.gray:
        image = image.convert("L")
    if content.alpha is not None:
        alpha = images.resize(content.alpha, size)
        image = image.convert("LA" if content.gray else "RGBA")
        image.putalpha(alpha)
    return image
