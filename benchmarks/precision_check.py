"""bfloat16 vs float32: do runs of the same schedule end at the same objective?

    python -m benchmarks.precision_check --size 128 --iterations 20 [--layout channels-last] [--mask]

For each content × style pair, runs stylize() twice with the same seed and schedule, once
with ``--precision fp32`` and once with ``--precision bf16``, saves both results, and measures
both saved (8-bit) images' objective in float32 with the same network. Prints the objectives,
their relative difference (the bar is 2 %) and the mean absolute pixel difference (0..255).
On a CPU without bf16 instructions bf16 is emulated and very slow: use a small size there.
``--mask``: the same with a region, the content's right half (the masked objective, which the
unmasked runs do not exercise).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.common import FIXTURE_WEIGHTS, IMAGES, OUT
from nst_contract.requests import StylizeRequest
from nst_engine import stylize
from nst_engine.services import devices, images
from nst_engine.transfer.objective import Objective, style_views
from nst_engine.transfer.planning import load_inputs
from nst_engine.transfer.render import tensor_mask
from nst_engine.transfer.reuse import network

PAIRS = [("tubingen.jpg", "starry_night.jpg"), ("tubingen.jpg", "woman-with-hat-matisse.jpg")]


def float32_objective(req: StylizeRequest, image_path: Path) -> float:
    """The objective of a saved image, computed in float32 (contiguous) at the result's size."""
    req32 = StylizeRequest(**{**req.__dict__, "precision": "fp32", "layout": "contiguous", "output": None})
    p = load_inputs(req32)
    device = devices.pick(req32.device)
    net = network(req32, device)[0]
    w, h = p.output_size
    content = images.to_tensor(images.resize(p.content.rgb, (w, h))).to(device)
    styles = style_views(req32.style_scale, [[images.to_tensor(s).to(device) for s in r.styles] for r in p.regions],
                          (w, h), device)
    masks = [tensor_mask(r.mask, (h, w), device) for r in p.regions]
    objective = Objective(net, p.objective, content, styles, masks)
    with torch.no_grad():
        return objective(images.to_tensor(Image.open(image_path).convert("RGB")).to(device))[1]["total"]


def right_half_mask(content: Path, out_dir: Path) -> str:
    """A mask of the content's size: white (stylise) on the right half, black on the left."""
    w, h = Image.open(content).size
    mask = np.zeros((h, w), np.uint8)
    mask[:, w // 2:] = 255
    path = out_dir / f"{content.stem}-right-half.png"
    Image.fromarray(mask, "L").save(path)
    return str(path)


def compare(content: Path, style: Path, out_dir: Path, args) -> dict:
    runs = {}
    mask = right_half_mask(content, out_dir) if args.mask else None
    for precision in ("fp32", "bf16"):
        out = out_dir / f"{content.stem}-{style.stem}-{precision}{'-mask' if mask else ''}.png"
        req = StylizeRequest(content=str(content), styles=[str(style)], output=str(out), size=args.size, mask=mask,
                             iterations=args.iterations, model=args.model, weights=args.weights,
                             device=args.device, precision=precision, layout=args.layout)
        t = time.perf_counter()
        result = stylize(req)
        runs[precision] = {"seconds": time.perf_counter() - t, "in_run_objective": result.loss["total"],
                           "objective": float32_objective(req, out), "image": str(out)}
        print(f"  {precision}: {runs[precision]['seconds']:.1f} s, objective (float32, saved image) "
              f"{runs[precision]['objective']:.4f}", flush=True)
    a, b = (np.asarray(Image.open(runs[p]["image"]).convert("RGB")).astype(float) for p in ("fp32", "bf16"))
    rel = abs(runs["bf16"]["objective"] - runs["fp32"]["objective"]) / runs["fp32"]["objective"]
    return {"content": content.name, "style": style.name, "runs": runs, "relative_difference": rel,
            "mean_abs_pixel_difference": float(np.abs(a - b).mean())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--layout", default="auto")
    ap.add_argument("--model", default="vgg16")
    ap.add_argument("--weights", default=str(FIXTURE_WEIGHTS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(OUT / "precision"))
    ap.add_argument("--mask", action="store_true", help="stylise only the content's right half")
    args = ap.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for content, style in PAIRS:
        print(f"{content} × {style}, {args.size} px, {args.iterations} iterations:", flush=True)
        r = compare(IMAGES / content, IMAGES / style, out_dir, args)
        print(f"  objectives differ by {r['relative_difference']:.2%} (bar: 2 %); mean |pixel difference| "
              f"{r['mean_abs_pixel_difference']:.2f} / 255", flush=True)
        results.append(r)
    (out_dir / "precision.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
