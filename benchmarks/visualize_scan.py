"""Forward-only scan timing for ``visualize``: torch vs onnxruntime on the CPU.

    python -m benchmarks.visualize_scan --weights ../shared/weights/vgg16_features_fixture.pt \
        --model vgg16 --size 256 --runs 5 --threads 2

Scans the shared test images plus scikit-image's photos (whatever is available) at
``--size`` (longest side), with the network truncated after the deepest of
``--layers``, and prints the median wall time of ``--runs`` full passes per backend
(after one warm-up pass), the ONNX export time, and the largest difference between
the two backends' activations. Prints one JSON object at the end for scripts.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from PIL import Image

from benchmarks.common import FIXTURE_WEIGHTS, IMAGES
from nst_contract.options import fit_longest
from nst_engine.services import images as images_mod
from nst_engine.visualize.backends import OnnxScanner, TorchScanner
from nst_engine.services.weights import load_features


def _images(size: int) -> list:
    pics = [Image.open(p).convert("RGB") for p in sorted(IMAGES.glob("*.jpg"))]
    try:
        from skimage import data

        pics += [Image.fromarray(getattr(data, name)()).convert("RGB")
                 for name in ("astronaut", "chelsea", "coffee", "rocket")]
    except ImportError:
        pass
    out = []
    for pic in pics:
        w, h = fit_longest(*pic.size, size)
        out.append(images_mod.to_tensor(images_mod.resize(pic, (w, h))))
    return out


def _time(scan, tensors, runs: int) -> list:
    for t in tensors:  # warm-up (allocator, ORT's shape-specific kernels)
        scan(t)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for t in tensors:
            scan(t)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="vgg16")
    p.add_argument("--weights", default=str(FIXTURE_WEIGHTS))
    p.add_argument("--layers", default="relu1_1,relu2_1,relu3_1,relu4_1,relu5_1")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    layers = args.layers.split(",")
    net, _source = load_features(args.model, args.weights)
    net.truncate(layers)
    tensors = _images(args.size)
    pixels = sum(t.shape[-1] * t.shape[-2] for t in tensors)
    print(f"{len(tensors)} images, longest side {args.size}, {pixels / 1e6:.2f} MP per pass, "
          f"{args.threads} threads, torch {torch.__version__}", flush=True)

    torch_scan = TorchScanner(net, layers)
    t0 = time.perf_counter()
    onnx_scan = OnnxScanner(net, layers, threads=args.threads)
    export_s = time.perf_counter() - t0
    import onnxruntime

    diff = 0.0
    for t in tensors[:2]:
        a, b = torch_scan(t), onnx_scan(t)
        diff = max(diff, max(float((a[n] - b[n]).abs().max() / a[n].abs().max().clamp_min(1e-12)) for n in layers))
    result = {"images": len(tensors), "size": args.size, "threads": args.threads, "layers": layers,
              "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
              "onnx_export_and_session_s": round(export_s, 3), "max_relative_difference": diff}
    for name, scan in (("torch", torch_scan), ("onnx", onnx_scan)):
        times = _time(scan, tensors, args.runs)
        med = statistics.median(times)
        result[f"{name}_median_s"] = round(med, 3)
        result[f"{name}_runs_s"] = [round(t, 3) for t in times]
        print(f"{name:>6}: median {med:.3f} s per pass ({med / len(tensors) * 1000:.0f} ms per image); "
              f"runs {', '.join(f'{t:.3f}' for t in times)}", flush=True)
    print(f"ONNX export + session: {export_s:.2f} s; max relative difference {diff:.2e}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
