"""Default pyramid vs a single-scale L-BFGS reference, in one process on one machine.

The reference is what most style-transfer scripts do (Gatys et al.'s own code,
jcjohnson's neural-style): 300 L-BFGS iterations at the target size, pixels free to
leave [0, 1] during the run and clamped when saved. The default is our engine as a
user gets it: the coarse-to-fine pyramid, with pixels kept in [0, 1] after every
step. Both use the same objective and weights; both final objectives are measured on
the saved (clamped) image at full size with the same network. The default's progress
events are full-size objective values of in-range images at its finest scale, which
gives the time at which it first reaches the reference's final value.

A second reference separates the two gains: the engine's own single-scale mode
(`--no-pyramid`, bounded like the default), 300 iterations.

Also reports the CPU and its relevant flags, the engine's calibration table (which
precision and layout the VGG runs fastest in here, measured afresh, numerics.py), and how
much of the machine's arithmetic peak one VGG forward+backward reaches in the chosen
numerics: FLOPs counted by torch's FlopCounterMode, divided by the median step time,
against a measured large-matmul rate in the chosen precision and the nominal fp32 peak
from the CPU flags. The reference runs in float32 (as the classic scripts do), in the
faster float32 layout measured here.

    python -m benchmarks.speed --model vgg16 --weights ../shared/weights/vgg16_features_fixture.pt
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import (CONTENT, FIXTURE_WEIGHTS, OUT, STYLE, cpu_description, cpu_flags, time_to_reach,
                               timed_run)
from nst_contract.options import fit_longest
from nst_contract.requests import StylizeRequest
from nst_engine.transfer.objective import Objective
from nst_engine.transfer.planning import load_inputs
from nst_engine.transfer.reuse import network
from nst_engine.services import devices, images
from nst_engine.transfer import numerics


def matmul_gflops(n=2048, repeats=7, dtype=torch.float32):
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def nominal_peak_gflops():
    """cores × clock × fp32 FLOPs per cycle (2 FMA units × vector width × 2), from /proc/cpuinfo."""
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return None, "unknown"
    flags = cpu_flags()
    mhz = max(float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M))
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    per_cycle = lanes * 2 * (2 if "fma" in flags else 1)  # two FMA ports on server cores
    cores = torch.get_num_threads()
    return cores * mhz / 1e3 * per_cycle, f"{cores} threads × {mhz:.0f} MHz × {per_cycle} FLOP/cycle"


def step_flops_and_time(req, repeats=5):
    """FLOPs and median wall time of one objective evaluation + backward at full size."""
    p = load_inputs(req)
    device = devices.pick(req.device)
    net, _, chosen = network(req, device)  # the network exactly as stylize() runs it
    w, h = p.output_size
    content = images.to_tensor(images.resize(p.content.rgb, (w, h))).to(device)
    style = images.to_tensor(images.resize(p.regions[0].styles[0],
                                           fit_longest(*p.regions[0].styles[0].size, max(w, h)))).to(device)
    objective = Objective(net, p.objective, content, [[style]], [None])
    x = content.clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        objective(x)[0].backward()
    times = []
    for _ in range(repeats):
        x.grad = None
        t = time.perf_counter()
        objective(x)[0].backward()
        times.append(time.perf_counter() - t)
    return counter.get_total_flops(), statistics.median(times), chosen


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--content", default=str(CONTENT))
    ap.add_argument("--style", default=str(STYLE))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--reference-iterations", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3, help="runs of the default (median reported)")
    ap.add_argument("--model", default="vgg16")
    ap.add_argument("--weights", default=str(FIXTURE_WEIGHTS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=str(OUT / "speed.json"))
    ap.add_argument("--no-bounded-reference", dest="bounded_reference", action="store_false",
                    help="skip the engine's own single-scale run (saves ~5 min)")
    args = ap.parse_args()

    base = dict(content=args.content, styles=[args.style], size=args.size, model=args.model,
                weights=args.weights, device=args.device)
    cpu = cpu_description()
    print(f"CPU: {cpu['model']}; flags {' '.join(cpu['flags']) or '-'}; lacks {' '.join(cpu['missing_flags']) or '-'}; "
          f"torch {torch.__version__} ({cpu['torch_cpu_capability']}), {torch.get_num_threads()} threads", flush=True)
    calibration = network(StylizeRequest(**base), devices.pick(args.device), fresh=True)[2]
    print("\n".join(numerics.describe(calibration)), flush=True)
    flops, step_s, chosen = step_flops_and_time(StylizeRequest(**base))
    dtype = torch.bfloat16 if chosen.precision == "bf16" else torch.float32
    peak_measured = matmul_gflops(dtype=dtype)
    peak_nominal, peak_how = nominal_peak_gflops()
    achieved = flops / step_s / 1e9
    print(f"one VGG forward+backward at {args.size}px in {chosen.precision}, {chosen.layout}: "
          f"{flops / 1e9:.1f} GFLOP in {step_s:.2f} s (median) = {achieved:.1f} GFLOP/s; "
          f"{chosen.precision} matmul {peak_measured:.1f} GFLOP/s ({achieved / peak_measured:.0%}); "
          f"nominal fp32 peak {peak_nominal:.0f} GFLOP/s [{peak_how}] ({achieved / peak_nominal:.0%})", flush=True)

    default_runs = []
    for i in range(args.repeats):
        seconds, final, trace = timed_run(StylizeRequest(**base))
        default_runs.append((seconds, final, trace))
        print(f"default pyramid run {i + 1}: {seconds:.1f} s, final objective {final:.4g}", flush=True)
    single = dict(pyramid=False, iterations=args.reference_iterations)
    ref_seconds, ref_final, ref_trace = timed_run(StylizeRequest(**base, **single, bounded=False, precision="fp32"))
    print(f"reference (single scale, {args.reference_iterations} L-BFGS, clamped when saved): "
          f"{ref_seconds:.1f} s, final objective {ref_final:.4g}", flush=True)
    bounded = None
    if args.bounded_reference:
        b_seconds, b_final, b_trace = timed_run(StylizeRequest(**base, **single))
        bounded = {"iterations": args.reference_iterations, "seconds": b_seconds, "final_objective": b_final,
                   "time_to_reference_objective_s": time_to_reach(b_trace, ref_final), "trace": b_trace}
        print(f"single scale bounded ({args.reference_iterations} L-BFGS, pixels kept in [0, 1]): "
              f"{b_seconds:.1f} s, final objective {b_final:.4g}", flush=True)

    med_seconds = statistics.median(r[0] for r in default_runs)
    med_final = statistics.median(r[1] for r in default_runs)
    reach = [time_to_reach(r[2], ref_final) for r in default_runs]
    reach_ok = [t for t in reach if t is not None]
    summary = {
        "size": args.size, "model": args.model, "device": args.device, "threads": torch.get_num_threads(),
        "cpu": cpu, "torch": torch.__version__, "calibration": calibration.to_event(),
        "reference": {"iterations": args.reference_iterations, "seconds": ref_seconds, "final_objective": ref_final},
        "bounded_single_scale": bounded and {k: v for k, v in bounded.items() if k != "trace"},
        "default": {"runs": [{"seconds": s, "final_objective": f} for s, f, _ in default_runs],
                    "median_seconds": med_seconds, "median_final_objective": med_final,
                    "time_to_reference_objective_s": reach},
        "traces": {"reference": ref_trace, "default": [r[2] for r in default_runs],
                   "bounded_single_scale": bounded and bounded["trace"]},
        "time_ratio": med_seconds / ref_seconds,
        "reach_ratio": statistics.median(reach_ok) / ref_seconds if len(reach_ok) == len(reach) else None,
        "objective_ratio": med_final / ref_final,
        "vgg_step": {"gflop": flops / 1e9, "median_s": step_s, "gflops": achieved, "numerics": chosen.summary(),
                     "matmul_gflops": peak_measured, "nominal_peak_gflops": peak_nominal, "nominal_how": peak_how},
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(summary, indent=2))
    print(f"\ndefault/reference time: {summary['time_ratio']:.3f} (median of {args.repeats}); "
          f"objective default/reference: {summary['objective_ratio']:.3f}")
    if len(reach_ok) == len(reach):
        print(f"default reached the reference's final objective after {statistics.median(reach_ok):.1f} s "
              f"(median of {len(reach)}) = {statistics.median(reach_ok) / ref_seconds:.3f} of the reference's time")
    else:
        print(f"default reached the reference's final objective in {len(reach_ok)} of {len(reach)} runs: {reach}")
    if bounded:
        t = bounded["time_to_reference_objective_s"]
        print(f"single scale bounded reached it after {t:.1f} s = {t / ref_seconds:.3f}" if t is not None
              else "single scale bounded did not reach it")
        print(f"default final / single scale bounded final: {med_final / bounded['final_objective']:.3f}; "
              f"default time / its time: {med_seconds / bounded['seconds']:.3f}")


if __name__ == "__main__":
    main()
