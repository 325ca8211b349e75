"""``stylize()`` and its loop: optimise at each pyramid scale, small first, then upsample and refine.

``stylize`` checks the request and loads its images (planning.load_inputs), loads the network
(reuse.py), plans the job with it (planning.plan: the memory guard, budget.py) and says so
(``Started``); ``_Run`` then runs the scales, each a fresh optimiser over the
previous scale's image upsampled, reporting every step (``Progress``, with the fraction
of the predicted cost done) and, when asked, the picture so far; render.py makes the
last image the picture that is saved.
"""
from __future__ import annotations

import math
import time
import torch

from nst_contract.events import EngineError, Progress, Started
from nst_contract.requests import StylizeRequest

from ..services import devices, images
from ..services.cancel import check
from ..services.stylize_result import StylizeResult
from ..services.weights import describe
from . import color, optimizer
from .objective import scale_objective, style_views
from .planning import StylizePlan, load_inputs, plan
from .render import composite, mask_union, picture, tensor_mask
from .reuse import Reuse, network
from .schedule import closing_cost, setup_cost, step_cost, style_sizes


def stylize(request: StylizeRequest, on_progress=None, cancel=None, reuse: Reuse | None = None,
            snapshots=None, scale_iterations=None) -> StylizeResult:
    """Stylise ``request.content``; ``on_progress`` gets ``Started`` then ``Progress`` events.

    ``cancel`` (a ``CancelToken``) is checked once per optimisation step; a cancelled run
    raises ``RunCancelled`` (services/cancel.py) and writes nothing. ``reuse`` keeps the network
    and style Grams between calls (``serve``). ``snapshots`` = (every N steps,
    callback(Progress, PIL image)): the picture so far, for previews that show it early.
    ``scale_iterations``: iterations per scale, coarse → fine, instead of the quality's
    schedule (schedule.py; benchmarks/schedules.py compares schedules with it).
    """
    t0 = time.perf_counter()
    req = request
    check(cancel)  # a SIGTERM while torch was importing
    if req.output is not None:
        paths = [req.content, *req.styles, req.mask] + [p for r in req.regions for p in (*r.styles, r.mask)]
        images.check_output_path(req.output, paths)
    inputs = load_inputs(req, scale_iterations)
    device = devices.pick(req.device)
    devices.set_threads(req.threads)
    net, source, chosen = network(req, device) if reuse is None else reuse.network(req, device)
    plan_ = plan(req, inputs, net, device)
    check(cancel)
    emit = on_progress or (lambda _event: None)
    named = describe(req.model, req.weights)
    emit(Started(content_size=plan_.content_size, output_size=plan_.output_size, scales=plan_.scales,
                 steps=plan_.steps, device=str(device), model=req.model, weights=source,
                 memory_estimate_mb=round(plan_.need_bytes / 2**20, 1), weights_source=named["weights_source"],
                 weights_sha256=named["weights_sha256"], numerics=chosen.summary(), tiles=plan_.tiles,
                 note=plan_.note))
    check(cancel)

    loop = _Run(req, plan_, net, device, emit, cancel, reuse, snapshots, t0)
    x, terms = loop.optimise()
    check(cancel)
    image = picture(x, loop.content_full, plan_, req, device, plan_.output_size)
    check(cancel)
    if req.output is not None:
        images.save_atomic(image, req.output)
    return StylizeResult(image, req.output, time.perf_counter() - t0, terms, plan_.output_size)


def _inputs(req: StylizeRequest, plan_: StylizePlan, device) -> tuple:
    """(the content at the result's size, the content the content term aims at, per region its
    style tensors): with --preserve-color the styles take the content's colours (histogram) or
    the run happens on luminance alone."""
    content_full = images.to_tensor(images.resize(plan_.content.rgb, plan_.output_size)).to(device)
    styles_t = [[images.to_tensor(s).to(device) for s in r.styles] for r in plan_.regions]
    target_content = content_full
    if req.preserve_color == "luminance":
        target_content = color.as_gray_rgb(color.luminance(content_full))
        styles_t = [[color.match_luminance(s, content_full) for s in ss] for ss in styles_t]
    elif req.preserve_color == "histogram":
        styles_t = [[color.match_histogram(s, content_full) for s in ss] for ss in styles_t]
    return content_full, target_content, styles_t


class _Clock:
    """Where a run is, as a fraction of its predicted cost (schedule.py's unit), and its ETA."""

    def __init__(self, req: StylizeRequest, plan_: StylizePlan, t0: float):
        tile_plan = plan_.tiles
        self.scales, self.t0 = plan_.scales, t0
        self.costs = [s * step_cost(size, tile) for s, size, tile in zip(plan_.steps, plan_.scales, tile_plan)]
        self.setups = [setup_cost(size, tile, style_sizes(plan_.regions, req.style_scale, max(size)))
                       for size, tile in zip(plan_.scales, tile_plan)]
        last = len(plan_.scales) - 1
        self.closings = [closing_cost(size, tile) if k == last or optimizer.keeps_best(size) else 0.0
                         for k, (size, tile) in enumerate(zip(plan_.scales, tile_plan))]
        self.done = 0.0  # the cost of the setups, steps and closings finished
        self.total = float(sum(self.costs) + sum(self.setups) + sum(self.closings))

    def progress(self, k: int, step: int, steps: int, fraction: float, terms: dict, tile=None) -> Progress:
        elapsed = time.perf_counter() - self.t0
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else None
        return Progress(k, len(self.scales), self.scales[k], step, steps, round(fraction, 5), round(elapsed, 3),
                        None if eta is None else round(eta, 1), dict(terms), tile)

    def after_step(self, k: int, step: int, steps: int) -> float:
        return (self.done + self.costs[k] * step / steps) / self.total

    def within(self, k: int, step: int, steps: int, done: int, total: int) -> float:
        """Step ``step``'s tiles ``done`` of ``total``; step 0 is the scale's setup (the styles'
        Grams, the content's features), when ``self.done`` does not have its cost yet."""
        start = self.done + (self.costs[k] * (step - 1) / steps if step else 0)
        return (start + (self.costs[k] / steps if step else self.setups[k]) * done / total) / self.total

    def closing(self, k: int, done: int, total: int) -> float:
        """The scale's closing evaluation, tiles ``done`` of ``total`` (``self.done`` has its steps)."""
        return (self.done + self.closings[k] * done / total) / self.total


class _Run:
    """One ``stylize()`` call's optimisation, scale by scale: the state its scales share."""

    def __init__(self, req, plan_: StylizePlan, net, device, emit, cancel, reuse, snapshots, t0):
        self.req, self.plan, self.net, self.device = req, plan_, net, device
        self.emit, self.cancel, self.reuse, self.snapshots = emit, cancel, reuse, snapshots
        self.content_full, self.target_content, self.styles = _inputs(req, plan_, device)
        self.clock = _Clock(req, plan_, t0)
        self.terms = {}  # of the last image evaluated
        self.step = 0  # the step under way at this scale; 0: its setup
        self.closing = False  # the scale's closing evaluation under way

    def optimise(self) -> tuple:
        """(the last scale's image in [0, 1], its terms)."""
        x = terms = None
        for k in range(len(self.plan.scales)):
            x, terms = self.scale(k, x)
        return x, terms

    def scale(self, k: int, x) -> tuple:
        """Optimise scale ``k`` from ``x`` (the previous scale's image; None: the first scale).
        → (its image in [0, 1], its terms, or None when not needed: a coarse scale)."""
        req, (w, h), steps = self.req, self.plan.scales[k], self.plan.steps[k]
        content = images.resize_tensor(self.target_content, (h, w))
        masks = [tensor_mask(r.mask, (h, w), self.device) for r in self.plan.regions]
        union = mask_union(masks)

        def on_tile(done, total):
            if self.step > steps and not self.closing:
                return  # a second evaluation of the same image (unbounded runs): already reported
            fraction = (self.clock.closing(k, done, total) if self.closing
                        else self.clock.within(k, self.step, steps, done, total))
            self.emit(self.clock.progress(k, min(self.step, steps), steps, fraction, self.terms, [done, total]))

        self.step = 0
        evaluate, value = scale_objective(self.net, self.plan.objective, content,
                                          style_views(req.style_scale, self.styles, (w, h), self.device), masks,
                                          self.plan.tiles[k], self.reuse, self.cancel, on_tile, on_tile)
        self.clock.done += self.clock.setups[k]
        x = self._start_image(x, content, union)
        best = self._steps(k, x, content, union, evaluate)
        self.clock.done += self.clock.costs[k]
        x = composite(x, content, union).detach().clamp(0, 1)
        if best is None and k < len(self.plan.scales) - 1:
            return x, None
        terms = self._closing_value(k, value, x)
        if best is None:
            return x, terms
        if terms["total"] > best.total:  # the last updates overshot: keep the best
            x = composite(best.image, content, union).clamp(0, 1)
            # bounded: the best image (where a step started) was already in [0, 1], so its terms are those of ``x``
            terms = best.terms if req.bounded else value(x)
        return x, terms

    def _closing_value(self, k: int, value, x) -> dict:
        """The terms the scale ends with; a tiled evaluation reports its tiles (at 4096 px it
        takes minutes)."""
        self.step, self.closing = self.plan.steps[k] + 1, True
        try:
            return value(x)
        finally:
            self.closing = False
            self.clock.done += self.clock.closings[k]

    def _start_image(self, x, content, union) -> torch.Tensor:
        """The image this scale optimises: the content or noise (first scale), else ``x`` upsampled."""
        if x is None:
            if self.req.init == "content":
                x = content.clone()
            else:
                x = torch.rand(content.shape, generator=torch.Generator().manual_seed(int(self.req.seed)))
                x = x.to(self.device)
        else:
            x = images.resize_tensor(x, tuple(content.shape[-2:]))
        return composite(x, content, union).detach().requires_grad_(True)

    def _steps(self, k: int, x, content, union, evaluate):
        """This scale's optimisation steps on ``x``, in place. → the lowest-objective image a
        few-step scale evaluated (``optimizer.Best``), or None for the other scales."""
        req, steps = self.req, self.plan.steps[k]
        opt = optimizer.make(req, x)
        best = optimizer.Best() if optimizer.keeps_best(self.plan.scales[k]) else None
        at = {}  # the image the step under way started from

        def closure():
            opt.zero_grad()
            at["image"] = x.detach().clone()
            total, self.terms = evaluate(composite(x, content, union))
            return total

        for step in range(1, steps + 1):
            check(self.cancel)
            self.step = step
            opt.step(closure)
            if req.bounded:
                # Projection onto the box: the objective L-BFGS sees is then the one of
                # an image that can be saved. Clamping only at the end throws away what the
                # optimiser gained outside [0, 1] (measured: 0.92 in-run vs 1.23 saved).
                with torch.no_grad():
                    x.clamp_(0, 1)
            if not math.isfinite(self.terms["total"]):
                raise EngineError("internal", "the optimisation diverged (loss is not finite); "
                                  "try --optimizer adam or a smaller --lr")
            if best is not None:
                best.offer(self.terms, at["image"])  # ``terms`` are those of the image this step started from
            progress = self.clock.progress(k, step, steps, self.clock.after_step(k, step, steps), self.terms)
            self.emit(progress)
            self._snapshot(k, step, steps, x, progress)
        return best

    def _snapshot(self, k: int, step: int, steps: int, x, progress) -> None:
        """Every N steps and at the end of each coarser scale: the picture so far, at the result's size."""
        if not self.snapshots:
            return
        every, callback = self.snapshots
        last = k == len(self.plan.scales) - 1 and step == steps  # the result itself follows
        if (step % every == 0 or step == steps) and not last:
            out_w, out_h = self.plan.output_size
            so_far = images.resize_tensor(x.detach().clamp(0, 1), (out_h, out_w))
            callback(progress, picture(so_far, self.content_full, self.plan, self.req, self.device, (out_w, out_h)))
