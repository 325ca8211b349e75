"""Which numerics the VGG runs in on this machine: float32 or bfloat16, NCHW or NHWC — measured.

The fastest choice differs from one machine to the next (bfloat16 is 2–3× faster with AMX or
tensor cores, and emulated, many times slower, on a CPU without bf16 instructions; oneDNN's
channels-last convolutions win on some CPUs and lose on others). So a short calibration times
a few forward+backward passes of the network the run uses, in every candidate, on the device in
use, and the result is cached per (device model, torch version, network, threads) in
``<cache>/gimp-neural-style/calibration.json`` (nst_contract.calibration reads and writes it).
``--precision`` / ``--layout`` override it.

bfloat16 is used only inside the VGG's layers (an autocast region, vgg.py); the network's
outputs, Gram matrices, losses and the optimiser's state stay float32.
"""
from __future__ import annotations

import hashlib
import platform
import time
from dataclasses import asdict, dataclass, field

import torch

from nst_contract import calibration
from nst_contract.events import bad_input
from nst_contract.iterations import QUALITY_ITERATIONS
from nst_contract.options import AUTO, DEFAULT_MAX_SIZE, LAYOUTS, PRECISIONS
from nst_contract.requests import StylizeRequest

from .schedule import schedule, step_cost
from .tiles import TILE_SIZE
# Longest side of the calibration image: the default pyramid's coarse scale, large enough
# that the convolutions dominate as at the sizes people use, small enough to take a few
# seconds on a 2-core CPU.
CALIBRATION_SIDE = 256
CALIBRATION_REPEATS = 3
# bfloat16 rounds the network's activations to 8 bits of mantissa; take it only when it
# clearly pays (at least 10 % faster than the best float32 layout).
BF16_MARGIN = 0.9
# A candidate whose first pass takes this many times the best finished one is not repeated.
SLOW_CUTOFF = 3.0
# (precision, layout) when nothing was measured and nothing asked for: the safe choice.
FALLBACK = ("fp32", "contiguous")
# Sizes the time estimates are made for (longest side, 4:3), see ``estimates``; the plug-in
# interpolates between them for the layer at hand.
ESTIMATE_SIDES = (256, 512, 1024, 2048, 4096)


@dataclass
class Numerics:
    precision: str  # one of PRECISIONS
    layout: str  # one of LAYOUTS
    how: str  # "measured", "cached", "forced" or "forced precision, measured layout" etc.
    table: list = field(default_factory=list)  # [{"precision", "layout", "seconds" (or None), "note"}]
    key: str = ""
    step_seconds: float | None = None  # the chosen candidate's pass at the calibration size
    calibration_size: tuple | None = None  # (w, h)

    def to_event(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "key"}

    def summary(self) -> dict:
        """What the ``start`` event says: the choice and why (measured / cached / forced)."""
        return {"precision": self.precision, "layout": self.layout, "how": self.how}


def check_choices(precision: str, layout: str) -> None:
    for name, value, choices in (("--precision", precision, PRECISIONS), ("--layout", layout, LAYOUTS)):
        if value != AUTO and value not in choices:
            raise bad_input(f"{name} must be one of {AUTO}, {', '.join(choices)}; got {value!r}")


# ----------------------------------------------------------------------------- what is measured


def device_model(device: torch.device) -> str:
    """The hardware's name: the CPU model string, or the GPU's."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return f"Apple MPS ({platform.machine()}, {platform.mac_ver()[0]})"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def network_key(net, model: str) -> str:
    """The network's name, depth and a digest of its convolutions' shapes (a tiny test net differs)."""
    shapes = [tuple(p.shape) for p in net.parameters()]
    digest = hashlib.sha1(repr(shapes).encode()).hexdigest()[:10]
    return f"{model} to {net.names[-1]} ({digest})"


def cache_key(device: torch.device, net, model: str) -> str:
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    return f"{device_model(device)} | torch {torch.__version__}{threads} | {network_key(net, model)}"


def unsupported(device: torch.device, precision: str) -> str | None:
    """Why ``precision`` cannot run at full speed on ``device``, or None.

    Only what the libraries themselves report: a CPU whose oneDNN has no bf16 kernels
    runs bf16 convolutions in an emulation that took 50–120 s per pass at 256 px on an
    AVX2-only EPYC (vs 1–4 s in float32), far too long to time as a candidate.
    """
    if precision != "bf16":
        return None
    if device.type == "cpu":
        check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        if check is not None and not check():
            return "not timed: oneDNN has no bfloat16 kernels for this CPU (emulated, many times slower)"
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "not timed: this GPU has no bfloat16 support"
    return None


def set_numerics(net, precision: str, layout: str):
    """Put ``net`` in ``layout`` and make its layers run in ``precision``."""
    fmt = torch.channels_last if layout == "channels-last" else torch.contiguous_format
    return net.set_numerics(fmt, torch.bfloat16 if precision == "bf16" else None)


def time_pass(net, image: torch.Tensor, layers) -> float:
    """Seconds for one forward + backward through ``net`` (a loss on every requested layer)."""
    sync = torch.cuda.synchronize if image.device.type == "cuda" else (lambda: None)
    x = image.detach().requires_grad_(True)
    sync()
    t = time.perf_counter()
    feats = net(x, layers)
    loss = sum(f.pow(2).mean() for f in feats.values())
    loss.backward()
    float(x.grad.sum())  # waits for the device
    sync()
    return time.perf_counter() - t


def measure(net, device: torch.device, layers, side: int = CALIBRATION_SIDE,
            repeats: int = CALIBRATION_REPEATS) -> tuple[list, tuple]:
    """Time every candidate: the minimum of ``repeats`` passes after a warm-up pass.

    The repeats go round the candidates in turn, so a machine whose load changes meanwhile
    (shared CPUs) biases none of them. Leaves ``net`` in the fallback numerics.
    """
    w, h = side, side * 3 // 4
    image = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(device)
    table = [{"precision": p, "layout": l, "seconds": None, "note": unsupported(device, p) or ""}
             for p in PRECISIONS for l in LAYOUTS]
    live, best, times = [], None, {}
    for row in table:  # warm-up, and weed out what fails or is far slower
        if row["note"]:
            continue
        first = _timed(net, image, layers, row)
        if first is None:
            continue
        if best is not None and first > SLOW_CUTOFF * best:
            row["note"] = f"first pass {first:.2f} s, over {SLOW_CUTOFF:g}× the best; not repeated"
            continue
        best = first if best is None else min(best, first)
        live.append(row)
    for _ in range(repeats):
        for row in live:
            times.setdefault(id(row), []).append(_timed(net, image, layers, row))
    for row in live:
        ok = [t for t in times.get(id(row), []) if t is not None]
        row["seconds"] = min(ok) if ok else None
    set_numerics(net, *FALLBACK)
    return table, (w, h)


def _timed(net, image, layers, row) -> float | None:
    """One pass in ``row``'s numerics; a backend without the kernels notes why and gives None."""
    try:
        set_numerics(net, row["precision"], row["layout"])
        return time_pass(net, image, layers)
    except (RuntimeError, NotImplementedError) as exc:
        row["note"] = f"failed: {str(exc).splitlines()[0][:120]}"
        return None


def choose(table, precision: str = AUTO, layout: str = AUTO) -> tuple[str, str]:
    """The fastest measured candidate allowed by the overrides; bf16 only when it is clearly faster."""
    rows = [r for r in table if r["seconds"] is not None
            and precision in (AUTO, r["precision"]) and layout in (AUTO, r["layout"])]
    if not rows:
        return (FALLBACK[0] if precision == AUTO else precision, FALLBACK[1] if layout == AUTO else layout)

    def cost(row):
        return row["seconds"] / (BF16_MARGIN if row["precision"] == "bf16" else 1.0)

    fastest = min(rows, key=cost)
    return fastest["precision"], fastest["layout"]


# ----------------------------------------------------------------------------- the choice


def resolve(net, device: torch.device, model: str, precision: str = AUTO, layout: str = AUTO,
            fresh: bool = False, environ=None) -> Numerics:
    """Decide the numerics for ``net`` on ``device`` and put ``net`` in them.

    Both forced: no measurement. Otherwise the cached calibration for this machine, torch
    and network, or a new one (``fresh``, or none cached), which is then cached.
    """
    check_choices(precision, layout)
    if precision != AUTO and layout != AUTO:
        set_numerics(net, precision, layout)
        return Numerics(precision, layout, "forced")
    key = cache_key(device, net, model)
    path = calibration.cache_path(environ)
    entry = None if fresh else calibration.read_entries(path).get(key)
    how = "cached"
    if not _valid(entry):
        table, size = measure(net, device, list(net_layers(net)))
        entry = {"table": table, "size": list(size), "model": model, "device": str(device),
                 "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        entry["choice"] = list(choose(table))
        entry["estimates"], entry["size_limit"] = estimates(entry), DEFAULT_MAX_SIZE
        calibration.write_entry(path, key, entry)
        how = "measured"
    elif set(entry.get("estimates", {}).get("draft", {})) != {str(side) for side in ESTIMATE_SIDES}:
        # a cache from an engine with other schedules: redo the sums (the plug-in reads the limit too)
        entry["estimates"], entry["size_limit"] = estimates(entry), DEFAULT_MAX_SIZE
        calibration.write_entry(path, key, entry)
    chosen = choose(entry["table"], precision, layout)
    if precision != AUTO:
        how = f"forced precision, {how} layout"
    elif layout != AUTO:
        how = f"forced layout, {how} precision"
    set_numerics(net, *chosen)
    step = next((r["seconds"] for r in entry["table"] if (r["precision"], r["layout"]) == chosen), None)
    return Numerics(*chosen, how, entry["table"], key, step, tuple(entry["size"]))


def _valid(entry) -> bool:
    """A cache entry (already of the contract's shape, or None) that this engine can use: every
    candidate in the table, timed at today's calibration size."""
    return (entry is not None and len(entry["table"]) == len(PRECISIONS) * len(LAYOUTS)
            and entry["size"][0] == CALIBRATION_SIDE)


def net_layers(net) -> list:
    """The layers a calibration pass reads: the network's last (it is truncated to what a run needs)."""
    return [net.names[-1]]


def estimates(entry: dict) -> dict:
    """Predicted seconds of a run, per quality and longest side (4:3), from the measured pass.

    A step costs one forward+backward, proportional to the pixels; the schedule is the
    engine's own (schedule.py). The plug-in shows these in its dialog.
    """
    step = next((r["seconds"] for r in entry["table"] if [r["precision"], r["layout"]] == entry["choice"]), None)
    if step is None:
        return {}
    cal_pixels = entry["size"][0] * entry["size"][1]
    out = {}
    for quality in QUALITY_ITERATIONS:
        out[quality] = {}
        for side in ESTIMATE_SIDES:
            scales, steps = schedule(StylizeRequest(content=None, quality=quality), (side, side * 3 // 4))
            # scales over TILE_SIZE are assumed tiled (they are where memory is short, as on 24 GB)
            seconds = sum(n * step * step_cost(s, TILE_SIZE if max(s) > TILE_SIZE else None) / cal_pixels
                          for s, n in zip(scales, steps))
            out[quality][str(side)] = round(seconds, 1)
    return out


def describe(numerics: Numerics) -> list[str]:
    """Lines for people: the table and the choice."""
    lines = []
    if numerics.table:
        w, h = numerics.calibration_size or (0, 0)
        lines.append(f"one VGG forward+backward at {w}x{h} (minimum of {CALIBRATION_REPEATS}):")
        for r in numerics.table:
            took = f"{r['seconds']:.3f} s" if r["seconds"] is not None else "—"
            lines.append(f"  {r['precision']:<5} {r['layout']:<14} {took:>9}  {r['note']}".rstrip())
    lines.append(f"chosen: {numerics.precision}, {numerics.layout} ({numerics.how})")
    return lines
