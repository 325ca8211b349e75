"""The scan's backends: the truncated VGG forward-only, with torch or with onnxruntime.

``visualize`` runs the same network over many images and never needs gradients,
which is what onnxruntime is built for. The truncated ``VGGFeatures`` is exported
once per run (in memory, ~1.5 s for VGG16 up to relu5_1) with the TorchScript-based
exporter (``dynamo=False``: the newer exporter needs ``onnxscript``, which the engine
does not install), with dynamic height and width so every image keeps its own size.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from torch import nn

from nst_contract.events import EngineError, bad_input

OPSET = 17
# Measured with benchmarks/visualize_scan.py (VGG16 up to relu5_1, 8 photos at 256 px, 2 threads,
# torch 2.14.1 CPU vs onnxruntime 1.32): torch 4.92 s, onnxruntime 1.74 s per pass. So on the CPU
# ``auto`` means onnxruntime; on a GPU it means torch (onnxruntime here is the CPU build).
AUTO_CPU_BACKEND = "onnx"


def available() -> str | None:
    """None when the ONNX backend can run here, else why not."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        return f"onnxruntime is not installed ({exc})"
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
    except ImportError as exc:
        return f"onnx is not installed ({exc})"
    return None


class _Outputs(nn.Module):
    """``VGGFeatures`` returns a dict; ONNX wants a tuple in a fixed order."""

    def __init__(self, net, layers):
        super().__init__()
        self.net, self.layers = net, list(layers)

    def forward(self, image):
        out = self.net(image, self.layers)
        return tuple(out[name] for name in self.layers)


def export(net, layers) -> bytes:
    """The network (CPU, float32) up to the deepest of ``layers`` as an ONNX model in memory."""
    layers = list(layers)
    wrapper = _Outputs(net, layers).cpu().eval()
    example = torch.rand(1, 3, 64, 64)
    buf = io.BytesIO()
    dynamic = {"image": {2: "height", 3: "width"}}
    dynamic.update({name: {2: f"{name}_height", 3: f"{name}_width"} for name in layers})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer warnings
        torch.onnx.export(wrapper, (example,), buf, dynamo=False, input_names=["image"], output_names=layers,
                          dynamic_axes=dynamic, opset_version=OPSET)
    return buf.getvalue()


class OnnxScanner:
    """Callable like the torch scan: (1, 3, H, W) tensor in [0, 1] → {layer: (C, h, w) tensor}."""

    backend = "onnx"

    def __init__(self, net, layers, threads: int | None = None):
        reason = available()
        if reason:
            raise EngineError("bad_input", f"--backend onnx cannot run: {reason}; use --backend torch")
        import onnxruntime as ort

        self.layers = list(layers)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(export(net, self.layers), options, providers=["CPUExecutionProvider"])

    def __call__(self, image: torch.Tensor) -> dict:
        arrays = self.session.run(self.layers, {"image": np.ascontiguousarray(image.detach().cpu().numpy(),
                                                                              dtype=np.float32)})
        return {name: torch.from_numpy(a[0]) for name, a in zip(self.layers, arrays)}


class TorchScanner:
    """The same scan with torch (any device)."""

    backend = "torch"

    def __init__(self, net, layers, device=None):
        self.net, self.layers = net, list(layers)
        self.device = device or torch.device("cpu")

    def __call__(self, image: torch.Tensor) -> dict:
        with torch.inference_mode():
            out = self.net(image.to(self.device), self.layers)
        return {name: out[name][0].float().cpu() for name in self.layers}


def make_scanner(backend: str, net, layers, device, threads):
    """(scanner, backend name, note). ``auto``: onnxruntime on the CPU (measured faster), torch elsewhere."""
    if backend == "onnx" and device.type != "cpu":
        raise bad_input(f"--backend onnx runs on the CPU only; with --device {device.type} use --backend torch "
                        "(or auto)")
    if backend == "torch" or (backend == "auto" and (device.type != "cpu" or AUTO_CPU_BACKEND == "torch")):
        return TorchScanner(net, layers, device), "torch", ""
    if backend == "auto":
        reason = available()
        if reason:
            return TorchScanner(net, layers, device), "torch", f"onnx backend unavailable: {reason}"
        try:
            return OnnxScanner(net, layers, threads), "onnx", ""
        except Exception as exc:  # an exporter or runtime problem: the torch scan gives the same numbers
            return TorchScanner(net, layers, device), "torch", f"onnx export failed ({exc})"
    return OnnxScanner(net, layers, threads), "onnx", ""
