"""Full-resolution results: time, peak RSS and objective of one large job, and the
seam check (a tiled run against a whole-image run at a size where both fit).

One case per process, so the peak RSS (getrusage) is the case's own:

    python -m benchmarks.fullres run --size 2048 --quality balanced
    python -m benchmarks.fullres run --size 4096 --iterations 1 --tile 1024
    python -m benchmarks.fullres seams --size 1024 --tile 512 --iterations 10 --model vgg16 \
        --weights ../shared/weights/vgg16_features_fixture.pt

The content is a shared photo enlarged (bicubic) to the size asked for: timing does not
depend on the picture's detail. Prints per-scale seconds (from the progress events), the
tiles the engine chose, the memory estimate, the peak RSS, the objective at each step (of the
image the step started from) and the final objective.
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from PIL import Image

from benchmarks.common import CONTENT, STYLE, cpu_description
from nst_contract.requests import StylizeRequest
from nst_engine import stylize
from nst_engine.transfer import tiles


def enlarged(size: int, folder: Path) -> Path:
    src = Image.open(CONTENT).convert("RGB")
    w, h = src.size
    scale = size / max(w, h)
    path = folder / f"content-{size}.png"
    src.resize((round(w * scale), round(h * scale)), Image.BICUBIC).save(path)
    return path


def request(args, content: Path, **kw) -> StylizeRequest:
    return StylizeRequest(content=str(content), styles=[str(STYLE)],
                          size=args.size, quality=args.quality, iterations=args.iterations, model=args.model,
                          weights=args.weights, **kw)


def timed(req) -> dict:
    events, t0 = [], time.perf_counter()
    result = stylize(req, events.append)
    seconds = time.perf_counter() - t0
    start = events[0]
    per_scale, losses, setup = {}, {}, {}
    last = 0.0
    for e in events[1:]:
        key = f"{e.size[0]}x{e.size[1]}"
        per_scale[key] = round(per_scale.get(key, 0) + e.elapsed_s - last, 1)
        if e.step == 0:  # a tiled scale's setup (the styles' Grams, the content's features)
            setup[key] = round(setup.get(key, 0) + e.elapsed_s - last, 1)
        elif not e.tile:  # a step's event: the objective of the image the step started from
            losses.setdefault(key, []).append(round(e.loss["total"], 4))
        last = e.elapsed_s
    return {"seconds": round(seconds, 1), "size": list(result.size), "scales": start.scales, "steps": start.steps,
            "tiles": start.tiles, "estimate_mb": start.memory_estimate_mb, "numerics": start.numerics,
            "seconds_per_scale": per_scale, "setup_seconds": setup, "objective_per_step": losses,
            "objective": result.loss, "note": start.note, "image": result.image}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("run", "seams"))
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--quality", default="balanced")
    p.add_argument("--iterations", type=int)
    p.add_argument("--tile", type=int)
    p.add_argument("--model", default="vgg19")
    p.add_argument("--weights")
    p.add_argument("--save", help="write the result here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        content = enlarged(args.size, Path(tmp))
        if args.mode == "run":
            out = timed(request(args, content, tile=args.tile))
            if args.save:
                out.pop("image").save(args.save)
            out.pop("image", None)
        else:  # the same job untiled and tiled, single scale so the tiles are used throughout
            whole = timed(request(args, content, pyramid=False))
            tiled = timed(request(args, content, pyramid=False, tile=args.tile))
            w, h = tiled["size"]
            layout = tiles.layout((h, w), args.tile)
            t_img, w_img = tiled.pop("image"), whole.pop("image")
            if args.save:
                t_img.save(args.save.replace(".png", "-tiled.png"))
                w_img.save(args.save.replace(".png", "-whole.png"))
            out = {"whole": whole, "tiled": tiled,
                   "objective_ratio": round(tiled["objective"]["total"] / whole["objective"]["total"], 4),
                   # border strips (±2 px) vs the rest of the picture, and vs their own ±16 px surroundings
                   "seam_ratio_tiled": round(tiles.seam_ratio(t_img, layout), 4),
                   "seam_ratio_whole_same_lines": round(tiles.seam_ratio(w_img, layout), 4),
                   "seam_ratio_tiled_local": round(tiles.seam_ratio(t_img, layout, near=16), 4),
                   "seam_ratio_whole_local": round(tiles.seam_ratio(w_img, layout, near=16), 4)}
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["cpu"] = cpu_description()
    out["threads"] = __import__("torch").get_num_threads()
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
