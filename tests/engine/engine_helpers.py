"""Small builders shared by the engine tests: a tiny random VGG and synthetic images."""
import numpy as np
import torch
from PIL import Image
from torchvision.models.vgg import cfgs, make_layers

from nst_engine.vgg import VGGFeatures


def tiny_vgg(seed: int = 0, divisor: int = 16) -> VGGFeatures:
    """VGG16's layout (so the same layer names exist) with 1/16 of the channels, random weights."""
    torch.manual_seed(seed)
    cfg = [v if v == "M" else max(2, v // divisor) for v in cfgs["D"]]
    return VGGFeatures(make_layers(cfg))


def noise_image(w, h, seed=0, mode="RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2}[mode]
    arr = rng.integers(0, 256, size=(h, w, channels), dtype=np.uint8)
    if channels == 1:
        arr = arr[..., 0]
    return Image.fromarray(arr, mode)


def smooth_image(w, h, seed=0) -> Image.Image:
    """Content-like: smooth gradients plus a few blobs (noise is a poor content image)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    arr = np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x + rng.random() * 3)], -1)
    return Image.fromarray((arr * 255).astype(np.uint8), "RGB")
