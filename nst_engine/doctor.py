"""``nst-engine doctor``: is this engine ready? Versions, device, weights, and a 64 px smoke run.

Its options are the common ones (nst_contract.options.DOCTOR); cli.main calls ``run``.
"""
from __future__ import annotations

import platform
import sys

from PIL import Image, ImageDraw

from nst_contract import calibration

DOCTOR = {"command": "doctor"}  # every event of this command says so, the smoke run's too


def _smoke_images():
    """A synthetic content (soft shapes) and style (stripes), so the check needs no files."""
    content = Image.new("RGB", (64, 64), (200, 180, 150))
    draw = ImageDraw.Draw(content)
    draw.ellipse((12, 12, 52, 52), fill=(40, 90, 160))
    style = Image.new("RGB", (64, 64), (250, 220, 40))
    draw = ImageDraw.Draw(style)
    for x in range(0, 64, 8):
        draw.line((x, 0, x + 32, 64), fill=(20, 20, 120), width=3)
    return content, style


def run(args, reporter, token) -> int:
    import torch
    import torchvision

    from nst_contract.requests import StylizeRequest

    from . import __version__
    from .services import devices, weights
    from .transfer import stylize

    device = devices.pick(args.device)
    info = {
        "event": "info",
        "command": "doctor",
        "engine": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "device": str(device),
        "cuda_available": torch.cuda.is_available(),
        "threads": torch.get_num_threads(),
        "model": args.model,
        **weights.describe(args.model, args.weights),  # weights, weights_source, weights_sha256
    }
    reporter.emit(info)
    if reporter.__class__.__name__ != "JsonReporter":
        for key, value in info.items():
            if key not in ("event", "command"):
                print(f"{key:>15}: {value}")
    _calibrate(args, reporter)
    content, style = _smoke_images()
    result = stylize(StylizeRequest(content=content, styles=[style], size=64, iterations=5, model=args.model,
                                    weights=args.weights, device=args.device, threads=args.threads,
                                    precision=args.precision, layout=args.layout),
                     lambda event: reporter.emit({**event.to_event(), **DOCTOR}), token)
    event = {**result.to_event(), **DOCTOR}
    event["smoke_test"] = "passed"
    reporter.emit(event)
    if reporter.__class__.__name__ != "JsonReporter":
        print(f"{'smoke test':>15}: passed (64 px, 5 steps, {result.seconds:.1f} s)")
    return 0


def _calibrate(args, reporter) -> None:
    """Measure afresh which precision and layout the network runs fastest in here (and cache it)."""
    from nst_contract.requests import StylizeRequest

    from .services import devices
    from .transfer import numerics
    from .transfer.reuse import network

    devices.set_threads(args.threads)
    req = StylizeRequest(content=None, model=args.model, weights=args.weights, precision=args.precision,
                         layout=args.layout)
    chosen = network(req, devices.pick(args.device), fresh=True)[2]
    reporter.emit({"event": "calibration", **DOCTOR, **chosen.to_event(), "cache": str(calibration.cache_path())})
    if reporter.__class__.__name__ != "JsonReporter":
        for line in numerics.describe(chosen):
            print(f"{'':>15}  {line}" if line.startswith(" ") else f"{'numerics':>15}: {line}")

