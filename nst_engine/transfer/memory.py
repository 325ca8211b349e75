"""How much memory a run needs, worked out from the network's shapes before anything is allocated."""
from __future__ import annotations

from ..services.vgg import VGGFeatures

BYTES = 4  # float32
# The torch runtime with the engine imported: 520 MiB of RSS measured before any job (CPU, torch
# 2.14); the rest is allocator slack.
OVERHEAD = 640 * 2**20
# Peak RSS of a whole-image job above the runtime, per byte of the network's forward activations:
# 0.96–1.13 measured (VGG16 at 1024/1536/2048 px, VGG19 at 1024/1536 px, fp32, either layout;
# benchmarks/memory_fit.py): autograd keeps about one copy of the activations and the backward frees
# them as it goes. 1.25 is the largest measured ratio plus 10 % (the old 3× tiled 2048 px jobs
# that fit whole).
ACTIVATION_FACTOR = 1.25


def activation_elements(net: VGGFeatures, height: int, width: int) -> tuple[int, int]:
    """(sum, largest) of the activations' element counts for one image of this size."""
    channels, total, largest = 3, 0, 0
    for (name, k, s, p), layer in zip(net.geometry(net.names[-1]), net.layers):
        out_channels = getattr(layer, "out_channels", None)
        if out_channels:
            channels = out_channels
        height = (height + 2 * p - k) // s + 1
        width = (width + 2 * p - k) // s + 1
        n = channels * max(height, 0) * max(width, 0)
        total, largest = total + n, max(largest, n)
    return total, largest


def estimate_bytes(net: VGGFeatures, size_hw, style_hws=(), history: int = 0) -> int:
    """Peak memory of an optimisation step at ``size_hw``.

    The forward activations autograd keeps for the backward (× ACTIVATION_FACTOR, fitted to
    measured peaks), the L-BFGS history (two images per entry) and a dozen working images, the
    weights. The style images' forward passes (no gradients: the two largest layers at a time)
    come before the steps, so they count only when larger than a step.
    """
    total, _ = activation_elements(net, *size_hw)
    pixels = 3 * size_hw[0] * size_hw[1]
    style_peak = max((2 * activation_elements(net, *hw)[1] for hw in style_hws), default=0)
    weights = sum(p.numel() for p in net.parameters())
    step = ACTIVATION_FACTOR * total + (2 * history + 12) * pixels
    return int(BYTES * (max(step, style_peak) + weights)) + OVERHEAD


def tiled_bytes(net: VGGFeatures, size_hw, crop_hw, history: int, content_layer: str) -> int:
    """Peak memory of a step computed tile by tile (tiles.py): one tile (core + halo) with its
    gradients, plus what stays full size: the image, its gradient, the content, the L-BFGS
    history, and the content's features at ``content_layer`` (kept per tile core).
    ``crop_hw``: the largest tile with its halo."""
    h, w = size_hw
    one_tile = estimate_bytes(net, crop_hw, (crop_hw,), 0)
    info = net.layer_info()[content_layer]
    content_features = info.channels * (h // info.stride) * (w // info.stride)
    return one_tile + BYTES * ((2 * history + 12) * 3 * h * w + content_features)
