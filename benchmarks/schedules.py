"""Compare pyramid schedules: time for each to reach a full-size objective.

    python -m benchmarks.schedules --target 1.229 30,50 200,100,50

Each schedule is the iterations per scale, coarse → fine, ending at --size; its
length picks the scales (the last N of 128, 256, 512 for a 512 px result). Prints
the run's time, final objective and the first time its finest-scale objective is
≤ --target (the images are in [0, 1] at every step, so this is the saved image's
objective). Single runs: repeat them when the differences are small.
"""
from __future__ import annotations

import argparse
import os

from benchmarks.common import CONTENT, FIXTURE_WEIGHTS, STYLE, time_to_reach, timed_run
from nst_contract.requests import StylizeRequest


def run(req: StylizeRequest, schedule: list[int]):
    """common.timed_run with the engine's schedule replaced by ``schedule`` (finest = the result size):
    stylize's ``scale_iterations``, which only callers in-process can give (not a command-line option)."""
    return timed_run(req, scale_iterations=schedule)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("schedules", nargs="+", help="iterations per scale, coarse → fine, e.g. 30,50")
    ap.add_argument("--target", type=float, required=True, help="full-size objective to reach")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--content", default=str(CONTENT))
    ap.add_argument("--style", default=str(STYLE))
    ap.add_argument("--model", default="vgg16")
    ap.add_argument("--weights", default=os.environ.get("NST_WEIGHTS", str(FIXTURE_WEIGHTS)))
    args = ap.parse_args()
    base = dict(content=args.content, styles=[args.style], size=args.size, model=args.model,
                weights=args.weights, device="cpu")
    for text in args.schedules:
        schedule = [int(v) for v in text.split(",")]
        seconds, final, trace = run(StylizeRequest(**base), schedule)
        reach = time_to_reach(trace, args.target)
        hand_off = [round(trace[i][3], 2) for i in range(1, len(trace)) if trace[i][1] != trace[i - 1][1]]
        print(f"{text}: {seconds:.1f} s, final objective {final:.4g}, reached {args.target} after "
              f"{'never' if reach is None else f'{reach:.1f} s'}; objective after each upsampling {hand_off}",
              flush=True)


if __name__ == "__main__":
    main()
