"""The memory guard's estimate against the real peak RSS of whole-image (untiled) runs.

Each case runs in a fresh process (so its getrusage peak is its own) with the guard turned off
(the engine would otherwise tile a large case), single scale, a few L-BFGS steps:

    python -m benchmarks.memory_fit --model vgg16 --weights ../shared/weights/vgg16_features_fixture.pt \
        --sizes 512 1024 1536

Prints, per size, the estimate (memory.estimate_bytes + decoding, what the guard compares with
free memory), the peak RSS, the RSS of the same process before the job (torch + weights), and
their ratios. memory.py's constants were fitted to these numbers.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

from benchmarks.common import REPO

CHILD = r"""
import json, resource
from pathlib import Path
import tempfile
from benchmarks import fullres
from benchmarks.common import STYLE
from nst_contract.requests import StylizeRequest
from nst_engine import stylize
from nst_engine.services import devices
devices.available_bytes = lambda device: None  # no guard: always the whole image
args = json.loads({args!r})
with tempfile.TemporaryDirectory() as tmp:
    content = fullres.enlarged(args["size"], Path(tmp))
    req = StylizeRequest(content=str(content), styles=[str(STYLE)],
                         size=args["size"], iterations=args["steps"], pyramid=False, model=args["model"],
                         weights=args["weights"], precision="fp32", layout=args["layout"])
    events = []
    result = stylize(req, events.append)
print(json.dumps({{"estimate_mb": events[0].memory_estimate_mb, "tiles": events[0].tiles,
                  "size": list(result.size), "seconds": round(result.seconds, 1),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 1536])
    p.add_argument("--model", default="vgg19")
    p.add_argument("--weights")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--layout", default="contiguous")
    args = p.parse_args()
    rows = []
    for size in args.sizes:
        child = CHILD.format(args=json.dumps({"size": size, "steps": args.steps, "model": args.model,
                                              "weights": args.weights, "layout": args.layout}))
        # run from the checkout's root, as this script is: python -c puts the working folder on sys.path
        out = subprocess.run([sys.executable, "-c", child], cwd=REPO, capture_output=True, text=True)
        if out.returncode:
            sys.exit(out.stderr[-3000:])
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["ratio"] = round(row["estimate_mb"] / row["peak_rss_mb"], 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps({"model": args.model, "layout": args.layout, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
