"""A forward-only scan of the truncated VGG with onnxruntime.

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

from .errors import EngineError

OPSET = 17


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
