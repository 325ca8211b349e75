"""``visualize()``: the image patches that most excite units of the network, per layer.

Zeiler & Fergus's first visualisation, forward-only:

1. collect the images (files and folders; unreadable ones are skipped and reported);
2. scan every image once through the VGG truncated after the deepest requested layer
   (onnxruntime on the CPU where it measures faster, else torch) and keep, per layer
   and unit (channel), the K best activations over all positions of all images, with
   non-maximum suppression inside each image (two patches of one unit from one image
   never overlap by more than ``overlap`` intersection-over-union), and each unit's
   mean activation over the whole set;
3. choose the units (the N with the highest mean activation, or the ones asked for);
4. cut each patch — the unit's exact receptive field from ``VGGFeatures.layer_info``,
   clipped at the border — out of the scanned image, optionally compute the gradient
   of the unit's activation with respect to the patch, and draw one labelled block per
   layer into a single picture; write the picture and a JSON index atomically.

The unit of work for progress and cancellation is one image.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from . import devices, images
from .cancel import check
from .errors import EngineError, bad_input
from .images import MIN_SIDE
from .vgg import MODELS, available_layers
from .weights import load_features

# The request, its defaults and limits, and the events are the contract's (shared with the plug-in).
from nst_contract.events import VisualizeDone, VisualizeProgress, VisualizeStarted  # noqa: E402
from nst_contract.options import (DEFAULT_CELL, DEFAULT_LAYERS, DEFAULT_OVERLAP, DEFAULT_SIZE,  # noqa: E402,F401
                                  DEFAULT_TOP, DEFAULT_UNITS, MAX_SIZE, MAX_TOP, MAX_UNITS)
from nst_contract.requests import VisualizeRequest  # noqa: E402

MAX_PICTURE_PIXELS = 80_000_000
UNIT_RULE = "mean"  # units chosen by highest mean activation over all positions of all images
JSON_VERSION = 1

# Measured with benchmarks/visualize_scan.py (VGG16 up to relu5_1, 8 photos at 256 px, 2 threads,
# torch 2.14.1 CPU vs onnxruntime 1.32): torch 4.92 s, onnxruntime 1.74 s per pass. So on the CPU
# ``auto`` means onnxruntime; on a GPU it means torch (onnxruntime here is the CPU build).
AUTO_CPU_BACKEND = "onnx"


# ----------------------------------------------------------------------------- data


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


@dataclass
class _Source:
    path: str
    original_size: tuple
    rgb: Image.Image  # at the scan size


# ----------------------------------------------------------------------------- checking


def _int_in(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise bad_input(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    return int(value)


def check_request(req: VisualizeRequest) -> dict:
    """Validate what can be validated without images or weights; returns {layer: unit ids or None}."""
    if req.model not in MODELS:
        raise bad_input(f"--model must be one of {', '.join(MODELS)}; got {req.model!r}")
    if req.pooling not in ("max", "avg"):
        raise bad_input(f"--pooling must be max or avg; got {req.pooling!r}")
    if req.backend not in ("auto", "torch", "onnx"):
        raise bad_input(f"--backend must be auto, torch or onnx; got {req.backend!r}")
    names = [n for n in available_layers(req.model) if not n.startswith("pool")]
    layers = list(req.layers or ())
    if not layers:
        raise bad_input("--layers is empty; name at least one layer, e.g. relu3_1")
    unknown = [n for n in layers if n not in names]
    if unknown:
        raise bad_input(f"unknown layer name(s) {', '.join(map(repr, unknown))} for {req.model}; "
                        f"choose from {', '.join(names)}")
    if len(set(layers)) != len(layers):
        raise bad_input(f"--layers names a layer twice: {','.join(layers)}")
    _int_in("--units", req.units, 1, MAX_UNITS)
    _int_in("--top", req.top, 1, MAX_TOP)
    _int_in("--size", req.size, MIN_SIDE, MAX_SIZE)
    _int_in("--cell", req.cell, 8, 512)
    try:
        overlap = float(req.overlap)
    except (TypeError, ValueError):
        overlap = float("nan")
    if not 0 <= overlap < 1:
        raise bad_input(f"--overlap must be a number from 0 (no overlap at all) to below 1, got {req.overlap!r}")
    ids = {}
    for layer, units in (req.unit_ids or {}).items():
        if layer not in layers:
            raise bad_input(f"--unit-ids names layer {layer!r}, which is not in --layers ({','.join(layers)})")
        units = list(units)
        if not units:
            raise bad_input(f"--unit-ids for {layer} lists no unit")
        for u in units:
            _int_in(f"a unit id of {layer}", u, 0, 1 << 20)
        if len(set(units)) != len(units):
            raise bad_input(f"--unit-ids for {layer} lists a unit twice")
        ids[layer] = [int(u) for u in units]
    if req.output is None and req.json_output is not None:
        raise bad_input("a JSON file was asked for without an output picture (-o)")
    return {layer: ids.get(layer) for layer in layers}


def _image_files(folder: Path) -> list:
    exts = Image.registered_extensions()
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in exts)


def collect(inputs, size: int) -> tuple[list, list]:
    """The images to scan, at their scan size, and the ones skipped with the reason.

    A path that does not exist is an error (a typo should not silently shrink the set);
    a file that cannot be decoded, or is too small, is skipped and reported; an empty
    result is an error that says what was looked at and why each file was left out.
    """
    if not inputs:
        raise bad_input("no input given: name image files and/or folders of images")
    sources, skipped, seen, looked = [], [], set(), []
    for item in inputs:
        if isinstance(item, Image.Image):
            candidates = [(item, f"<image {len(sources) + len(skipped)}>")]
        else:
            path = Path(item).expanduser()
            if not path.exists():
                raise bad_input(f"input {str(path)!r} does not exist: check the path")
            if path.is_dir():
                files = _image_files(path)
                looked.append(f"{str(path)!r} ({len(files)} image file(s))")
                candidates = [(f, str(f)) for f in files]
            else:
                looked.append(repr(str(path)))
                candidates = [(path, str(path))]
        for obj, name in candidates:
            if not isinstance(obj, Image.Image):
                key = os.path.realpath(obj)
                if key in seen:
                    continue
                seen.add(key)
            try:
                img = images.open_image(obj, "image")
            except EngineError as exc:
                skipped.append({"path": name, "reason": exc.message})
                continue
            rgb = images.split(img).rgb
            w, h = rgb.size
            if max(w, h) > size:
                w, h = images.fit_longest(w, h, size)
            if min(w, h) < MIN_SIDE:
                skipped.append({"path": name, "reason": f"too small: {rgb.width}x{rgb.height} is seen at {w}x{h}, "
                                                        f"under {MIN_SIDE} px on the shorter side"})
                continue
            sources.append(_Source(name, rgb.size, images.resize(rgb, (w, h))))
    if not sources:
        why = "".join(f"\n  {s['path']}: {s['reason']}" for s in skipped)
        raise bad_input(f"no usable images found in {', '.join(looked) or 'the inputs'}"
                        + (f"; skipped:{why}" if why else "; give image files or folders that hold some"))
    return sources, skipped


# ----------------------------------------------------------------------------- geometry


def field_box(info, row: int, col: int, width: int, height: int, clip: bool = True) -> tuple:
    """(x0, y0, x1, y1), end-exclusive: the input pixels the unit at (row, col) sees."""
    half = (info.field - 1) / 2
    x0 = int(round(info.offset + col * info.stride - half))
    y0 = int(round(info.offset + row * info.stride - half))
    x1, y1 = x0 + info.field, y0 + info.field
    if clip:
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    return x0, y0, x1, y1


def field_crop(info, row: int, col: int, width: int, height: int) -> tuple:
    """A crop of the input that reproduces the unit's activation exactly, and where the unit is in it.

    The crop holds the whole (clipped) receptive field; its top-left corner is moved up/left
    to a multiple of the layer's stride so that every pooling window of the crop coincides
    with one of the full image's, and it reaches at least to the end of the unit's own
    pooling window so the position exists in the crop's grid. Zero padding then only
    appears where the full image has it too (at the image border) or outside the field.
    Returns ((x0, y0, x1, y1), (row, col) in the crop's grid).
    """
    s = info.stride
    bx0, by0, bx1, by1 = field_box(info, row, col, width, height)
    x0, y0 = (bx0 // s) * s, (by0 // s) * s
    x1 = min(width, max(bx1, (col + 1) * s))
    y1 = min(height, max(by1, (row + 1) * s))
    return (x0, y0, x1, y1), (row - y0 // s, col - x0 // s)


def _axis_boxes(info, n: int, length: int) -> torch.Tensor:
    """Clipped [start, end) of the field of every grid position along one axis: (n, 2)."""
    half = (info.field - 1) / 2
    start = torch.round(info.offset + torch.arange(n, dtype=torch.float64) * info.stride - half)
    return torch.stack([start.clamp(0, length), (start + info.field).clamp(0, length)], 1).float()


def _inter(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Overlap lengths of every interval in ``a`` (n, 2) with every one in ``b`` (m, 2): (n, m)."""
    lo = torch.maximum(a[:, None, 0], b[None, :, 0])
    hi = torch.minimum(a[:, None, 1], b[None, :, 1])
    return (hi - lo).clamp_min(0)


def image_top(act: torch.Tensor, info, width: int, height: int, k: int, overlap: float):
    """Per unit, the k best positions of one image with non-maximum suppression.

    ``act``: (C, h, w). Greedy, all units at once: take each unit's maximum, then remove
    every position whose clipped field overlaps the taken one's by more than ``overlap``
    (intersection over union), k times. Returns (values (C, k), rows (C, k), cols (C, k));
    values are -inf where a unit has no position left.

    Many small tensor operations: run on one thread (with several, OpenMP's synchronisation
    costs more than the work, ~10× on a busy 2-core machine).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _image_top(act, info, width, height, k, overlap)
    finally:
        torch.set_num_threads(threads)


def _image_top(act, info, width, height, k, overlap):
    c, h, w = act.shape
    xs, ys = _axis_boxes(info, w, width), _axis_boxes(info, h, height)
    ix, iy = _inter(xs, xs), _inter(ys, ys)  # (w, w), (h, h)
    lx, ly = xs[:, 1] - xs[:, 0], ys[:, 1] - ys[:, 0]
    # Fields further apart than ``field`` pixels along an axis do not overlap: only a window of
    # ±ceil(field / stride) grid steps around a taken position can be suppressed.
    reach = math.ceil(info.field / info.stride)
    steps = torch.arange(-reach, reach + 1)
    scores = act.reshape(c, -1).float().clone()
    vals = torch.full((c, k), -math.inf)
    rows = torch.zeros((c, k), dtype=torch.long)
    cols = torch.zeros((c, k), dtype=torch.long)
    units = torch.arange(c)
    for j in range(k):
        best, where = scores.max(dim=1)
        alive = torch.isfinite(best)
        if not alive.any():
            break
        r, q = where // w, where % w
        vals[:, j] = torch.where(alive, best, torch.full_like(best, -math.inf))
        rows[:, j], cols[:, j] = r, q
        wr, wc = r[:, None] + steps, q[:, None] + steps  # (C, 2·reach+1)
        ok = (wr >= 0)[:, :, None] & (wr < h)[:, :, None] & (wc >= 0)[:, None, :] & (wc < w)[:, None, :]
        wr, wc = wr.clamp(0, h - 1), wc.clamp(0, w - 1)
        inter = iy[r[:, None], wr][:, :, None] * ix[q[:, None], wc][:, None, :]
        area = ly[wr][:, :, None] * lx[wc][:, None, :]
        chosen = (ly[r] * lx[q])[:, None, None]
        drop = ok & (inter / (chosen + area - inter) > overlap)
        flat = wr[:, :, None] * w + wc[:, None, :]
        scores[units[:, None, None].expand_as(flat)[drop], flat[drop]] = -math.inf
        scores[units, where] = -math.inf
    return vals, rows, cols


class _Best:
    """Running top-k per unit over images, plus the sum for the mean activation."""

    def __init__(self, channels: int, k: int):
        self.k = k
        self.vals = torch.full((channels, k), -math.inf)
        self.meta = torch.zeros((channels, k, 3), dtype=torch.long)  # image index, row, col
        self.sum = torch.zeros(channels, dtype=torch.float64)
        self.count = 0

    def add(self, index: int, act: torch.Tensor, vals, rows, cols) -> None:
        self.sum += act.reshape(act.shape[0], -1).double().sum(1)
        self.count += act.shape[1] * act.shape[2]
        meta = torch.stack([torch.full_like(rows, index), rows, cols], -1)
        all_vals = torch.cat([self.vals, vals], 1)
        all_meta = torch.cat([self.meta, meta], 1)
        # stable: on ties the earlier image (and the better rank inside it) wins
        order = torch.sort(all_vals, dim=1, descending=True, stable=True).indices[:, : self.k]
        self.vals = torch.gather(all_vals, 1, order)
        self.meta = torch.gather(all_meta, 1, order[..., None].expand(-1, -1, 3))

    @property
    def mean(self) -> torch.Tensor:
        return self.sum / max(1, self.count)


def choose_units(mean: torch.Tensor, n: int) -> list:
    """The rule: the n units with the highest mean activation over the set (ties: lower id first)."""
    order = sorted(range(len(mean)), key=lambda u: (-float(mean[u]), u))
    return order[: min(n, len(mean))]


# ----------------------------------------------------------------------------- backends


def make_scanner(backend: str, net, layers, device, threads):
    """(scanner, backend name, note). ``auto``: onnxruntime on the CPU (measured faster), torch elsewhere."""
    from . import onnx_scan

    if backend == "onnx" and device.type != "cpu":
        raise bad_input(f"--backend onnx runs on the CPU only; with --device {device.type} use --backend torch "
                        "(or auto)")
    if backend == "torch" or (backend == "auto" and (device.type != "cpu" or AUTO_CPU_BACKEND == "torch")):
        return onnx_scan.TorchScanner(net, layers, device), "torch", ""
    if backend == "auto":
        reason = onnx_scan.available()
        if reason:
            return onnx_scan.TorchScanner(net, layers, device), "torch", f"onnx backend unavailable: {reason}"
        try:
            return onnx_scan.OnnxScanner(net, layers, threads), "onnx", ""
        except Exception as exc:  # an exporter or runtime problem: the torch scan gives the same numbers
            return onnx_scan.TorchScanner(net, layers, device), "torch", f"onnx export failed ({exc})"
    return onnx_scan.OnnxScanner(net, layers, threads), "onnx", ""


# ----------------------------------------------------------------------------- gradients


def gradient_patch(net, layer: str, info, rgb: Image.Image, unit: int, row: int, col: int) -> Image.Image:
    """d activation / d input over the unit's clipped field, as RGB: 0.5 gray = no effect, normalised by |max|."""
    width, height = rgb.size
    (x0, y0, x1, y1), (r, c) = field_crop(info, row, col, width, height)
    crop = images.to_tensor(rgb.crop((x0, y0, x1, y1))).to(next(net.parameters()).device)
    crop.requires_grad_(True)
    with torch.enable_grad():
        act = net(crop, [layer])[layer][0, unit, r, c]
        act.backward()
    grad = crop.grad[0].detach().cpu()
    bx0, by0, bx1, by1 = field_box(info, row, col, width, height)
    grad = grad[:, by0 - y0: by1 - y0, bx0 - x0: bx1 - x0]
    scale = float(grad.abs().max())
    shown = 0.5 + 0.5 * grad / scale if scale > 0 else torch.full_like(grad, 0.5)
    return images.to_pil(shown[None])


# ----------------------------------------------------------------------------- drawing


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: bitmap font only
        return ImageFont.load_default()


def _patch_view(rgb: Image.Image, info, box, cell: int) -> Image.Image:
    """The clipped patch at the layer's common scale (cell / field), placed where it sits in the full field."""
    x0, y0, x1, y1 = box
    scale = cell / info.field
    tile = Image.new("RGB", (cell, cell), (96, 96, 96))
    w, h = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    resample = Image.Resampling.NEAREST if scale >= 2 else Image.Resampling.LANCZOS
    return tile, rgb.crop(box).resize((min(w, cell), min(h, cell)), resample)


def _field_origin(info, row: int, col: int) -> tuple:
    x0, y0, _, _ = field_box(info, row, col, 0, 0, clip=False)
    return x0, y0


class _Layout:
    """Where everything goes in the picture (computed before drawing, so the JSON and the picture agree)."""

    MARGIN, GAP, HEADER, LABEL_W = 12, 3, 22, 96

    def __init__(self, blocks, top: int, cell: int, gradients: bool):
        self.cell, self.top, self.gradients = cell, top, gradients
        per = 2 if gradients else 1
        self.pair = per * cell + (per - 1) * self.GAP  # a patch (and its gradient)
        self.width = 2 * self.MARGIN + self.LABEL_W + top * (self.pair + 2 * self.GAP)
        y = self.MARGIN
        self.blocks = []
        for layer, n_units in blocks:
            block_top = y
            y += self.HEADER
            rows = []
            for _ in range(n_units):
                rows.append(y)
                y += cell + 2 * self.GAP
            self.blocks.append((layer, block_top, rows, y))
            y += self.MARGIN
        self.height = y

    def cell_box(self, row_y: int, rank: int, gradient: bool = False) -> tuple:
        x = self.MARGIN + self.LABEL_W + rank * (self.pair + 2 * self.GAP)
        if gradient:
            x += self.cell + self.GAP
        return x, row_y, x + self.cell, row_y + self.cell


# ----------------------------------------------------------------------------- running


def _write_json_atomic(data: dict, path: Path) -> None:
    text = json.dumps(data, indent=1, allow_nan=False) + "\n"
    images.write_atomic(path, lambda fh: fh.write(text.encode("utf-8")))


def _check_outputs(req: VisualizeRequest, inputs) -> tuple:
    if req.output is None:
        return None, None
    out = images.check_output_path(req.output, inputs)
    if Image.registered_extensions().get(out.suffix.lower()) != "PNG":
        raise bad_input(f"the picture is written as PNG: give -o a .png name, not {out.name!r}")
    js = Path(req.json_output) if req.json_output is not None else out.with_suffix(".json")
    if js.suffix.lower() != ".json":
        raise bad_input(f"the index file must end in .json, got {js.name!r}")
    if not js.parent.is_dir():
        raise bad_input(f"output folder {str(js.parent)!r} (for {js.name}) does not exist")
    if not os.access(js.parent, os.W_OK):
        raise bad_input(f"output folder {str(js.parent)!r} is not writable")
    if js.resolve() == out.resolve():
        raise bad_input("the JSON file and the picture must be different files")
    return out, js


def visualize(request: VisualizeRequest, on_progress=None, cancel=None) -> VisualizeResult:
    """Scan ``request.inputs`` and draw the top patches per unit per layer.

    ``on_progress`` gets ``VisualizeStarted`` then ``VisualizeProgress`` objects; ``cancel`` (a
    ``CancelToken``) is checked once per image (and per gradient patch); a cancelled run raises
    ``Cancelled`` and writes nothing.
    """
    t0 = time.perf_counter()
    req = request
    wanted_ids = check_request(req)
    layers = list(wanted_ids)
    out_path, json_path = _check_outputs(req, [p for p in req.inputs if isinstance(p, (str, os.PathLike))])
    sources, skipped = collect(req.inputs, req.size)
    device = devices.pick(req.device)
    if req.threads:
        torch.set_num_threads(int(req.threads))
    net, weights_source = load_features(req.model, req.weights, req.pooling)
    net = net.truncate(layers)
    info = net.layer_info()
    for layer, ids in wanted_ids.items():
        if ids is not None:
            bad = [u for u in ids if u >= info[layer].channels]
            if bad:
                raise bad_input(f"--unit-ids {layer}: unit(s) {', '.join(map(str, bad))} do not exist; "
                                f"{layer} has units 0..{info[layer].channels - 1}")
    n_units = {layer: len(ids) if ids is not None else min(req.units, info[layer].channels)
               for layer, ids in wanted_ids.items()}
    layout = _Layout([(layer, n_units[layer]) for layer in layers], req.top, req.cell, req.gradients)
    if layout.width * layout.height > MAX_PICTURE_PIXELS:
        raise bad_input(f"the picture would be {layout.width}x{layout.height} px; ask for fewer --units, --top "
                        f"or a smaller --cell")
    net = net.to(device)
    scanner, backend, note = make_scanner(req.backend, net, layers, device, req.threads)
    emit = on_progress or (lambda _event: None)
    emit(VisualizeStarted(len(sources), skipped, layers, req.units, req.top, req.size, backend, str(device),
                          req.model, weights_source, note))
    check(cancel)

    # ---- scan
    pixels = [s.rgb.width * s.rgb.height for s in sources]
    total_px, done_px = float(sum(pixels)), 0.0
    # cost model for ``fraction``: a forward pass costs its pixels; a gradient patch (forward and
    # backward over its crop, up to ~field² pixels) about 3× its crop; drawing a fixed 5 %.
    grad_px = 3.0 * sum(min(info[layer].field, req.size) ** 2 * n_units[layer] * req.top
                        for layer in layers) if req.gradients else 0.0
    scan_share = 0.95 * total_px / (total_px + grad_px)
    best = {layer: _Best(info[layer].channels, req.top) for layer in layers}
    for index, src in enumerate(sources):
        check(cancel)
        acts = scanner(images.to_tensor(src.rgb))
        for layer in layers:
            act = acts[layer]
            vals, rows, cols = image_top(act, info[layer], src.rgb.width, src.rgb.height, req.top, req.overlap)
            best[layer].add(index, act, vals, rows, cols)
        done_px += pixels[index]
        fraction = scan_share * done_px / total_px
        elapsed = time.perf_counter() - t0
        emit(VisualizeProgress("scan", index + 1, len(sources), round(fraction, 5), round(elapsed, 3),
                               round(elapsed * (1 - fraction) / fraction, 1), src.path))
    check(cancel)

    # ---- pick units, collect patches
    patches, unit_rows = [], {}
    for b, layer in enumerate(layers):
        li = info[layer]
        units = wanted_ids[layer] if wanted_ids[layer] is not None else choose_units(best[layer].mean, req.units)
        _, _, row_ys, _ = layout.blocks[b]
        unit_rows[layer] = []
        for u, unit in enumerate(units):
            mine = []
            for rank in range(req.top):
                value = float(best[layer].vals[unit, rank])
                if not math.isfinite(value):
                    break
                index, row, col = (int(v) for v in best[layer].meta[unit, rank])
                src = sources[index]
                box = field_box(li, row, col, src.rgb.width, src.rgb.height)
                sx, sy = src.original_size[0] / src.rgb.width, src.original_size[1] / src.rgb.height
                box_orig = (round(box[0] * sx), round(box[1] * sy), round(box[2] * sx), round(box[3] * sy))
                mine.append(Patch(layer, unit, rank, value, src.path, index, (row, col), box, box_orig,
                                  layout.cell_box(row_ys[u], rank),
                                  layout.cell_box(row_ys[u], rank, True) if req.gradients else None))
            unit_rows[layer].append((unit, float(best[layer].mean[unit]), row_ys[u], mine))
            patches.extend(mine)

    # ---- gradients (torch: they need autograd)
    grads = {}
    if req.gradients:
        grad_net = net.to(device)
        done_grad, total_grad = 0.0, float(sum(min(info[p.layer].field, req.size) ** 2 for p in patches)) or 1.0
        for k, p in enumerate(patches):
            check(cancel)
            grads[id(p)] = gradient_patch(grad_net, p.layer, info[p.layer], sources[p.image_index].rgb,
                                          p.unit, *p.position)
            done_grad += min(info[p.layer].field, req.size) ** 2
            fraction = scan_share + (0.95 - scan_share) * done_grad / total_grad
            elapsed = time.perf_counter() - t0
            if (k + 1) % req.top == 0 or k + 1 == len(patches):
                emit(VisualizeProgress("gradients", k + 1, len(patches), round(fraction, 5), round(elapsed, 3),
                                       round(elapsed * (1 - fraction) / fraction, 1)))
    check(cancel)

    # ---- draw
    picture = Image.new("RGB", (layout.width, layout.height), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    head_font, label_font = _font(14), _font(11)
    for b, layer in enumerate(layers):
        li = info[layer]
        _, block_top, _, block_bottom = layout.blocks[b]
        rule = "chosen units" if wanted_ids[layer] is not None else f"top {n_units[layer]} units by mean activation"
        draw.text((layout.MARGIN, block_top + 3),
                  f"{layer}: field {li.field} px, stride {li.stride}; {rule}; best {req.top} patches each",
                  fill=(0, 0, 0), font=head_font)
        for unit, mean, row_y, mine in unit_rows[layer]:
            draw.text((layout.MARGIN, row_y + 2), f"unit {unit}", fill=(0, 0, 0), font=label_font)
            draw.text((layout.MARGIN, row_y + 16), f"mean {mean:.3g}", fill=(90, 90, 90), font=label_font)
            for rank in range(req.top):
                for grad_cell in ((False, True) if req.gradients else (False,)):
                    x0, y0, x1, y1 = layout.cell_box(row_y, rank, grad_cell)
                    draw.rectangle((x0 - 1, y0 - 1, x1, y1), outline=(200, 200, 200))
            for p in mine:
                tile, view = _patch_view(sources[p.image_index].rgb, li, p.box, req.cell)
                fx, fy = _field_origin(li, *p.position)
                scale = req.cell / li.field
                ox = min(req.cell - view.width, max(0, round((p.box[0] - fx) * scale)))
                oy = min(req.cell - view.height, max(0, round((p.box[1] - fy) * scale)))
                tile.paste(view, (ox, oy))
                picture.paste(tile, p.cell[:2])
                if p.gradient_cell is not None:
                    gtile = Image.new("RGB", (req.cell, req.cell), (96, 96, 96))
                    g = grads[id(p)].resize(view.size, Image.Resampling.NEAREST if scale >= 2
                                            else Image.Resampling.LANCZOS)
                    gtile.paste(g, (ox, oy))
                    picture.paste(gtile, p.gradient_cell[:2])
        if b + 1 < len(layers):
            draw.line((layout.MARGIN, block_bottom + layout.MARGIN // 2, layout.width - layout.MARGIN,
                       block_bottom + layout.MARGIN // 2), fill=(160, 160, 160))
    elapsed = time.perf_counter() - t0
    emit(VisualizeProgress("render", 1, 1, 1.0, round(elapsed, 3), 0.0))

    index = {
        "version": JSON_VERSION,
        "picture": str(out_path) if out_path else None,
        "picture_size": list(picture.size),
        "model": req.model, "weights": weights_source, "pooling": req.pooling, "backend": backend,
        "backend_note": note,
        "scan_size": req.size, "overlap": req.overlap, "cell": req.cell, "unit_rule": UNIT_RULE,
        "gradients": bool(req.gradients),
        "images": [{"index": i, "path": s.path, "original_size": list(s.original_size),
                    "scan_size": list(s.rgb.size)} for i, s in enumerate(sources)],
        "skipped": skipped,
        "layers": [],
    }
    for b, layer in enumerate(layers):
        li = info[layer]
        _, block_top, _, block_bottom = layout.blocks[b]
        index["layers"].append({
            "layer": layer, "channels": li.channels, "field": li.field, "stride": li.stride, "offset": li.offset,
            "units_chosen_by": "given" if wanted_ids[layer] is not None else UNIT_RULE,
            "block": [0, block_top, layout.width, block_bottom],
            "units": [{"unit": unit, "mean_activation": mean, "patches": [_patch_json(p) for p in mine]}
                      for unit, mean, _row_y, mine in unit_rows[layer]],
        })
    check(cancel)
    if out_path is not None:
        images.save_atomic(picture, out_path)
        try:
            _write_json_atomic(index, json_path)
        except BaseException:
            out_path.unlink(missing_ok=True)  # both or neither
            raise
    return VisualizeResult(picture, out_path, json_path, time.perf_counter() - t0, backend, index, patches)


def _patch_json(p: Patch) -> dict:
    d = {"layer": p.layer, "unit": p.unit, "rank": p.rank, "activation": p.activation, "image": p.image,
         "image_index": p.image_index, "position": list(p.position), "box": list(p.box),
         "box_original": list(p.box_original), "cell": list(p.cell)}
    if p.gradient_cell is not None:
        d["gradient_cell"] = list(p.gradient_cell)
    return d
