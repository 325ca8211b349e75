"""Small builders shared by the engine tests: a tiny random VGG and synthetic images."""
import numpy as np
import torch
from PIL import Image
from torch import nn

from nst_engine.services.vgg import VGGFeatures, architecture


def tiny_vgg(seed: int = 0, divisor: int = 16) -> VGGFeatures:
    """VGG16's layout (so the same layer names exist) with 1/16 of the channels, random weights.
    Built from vgg.architecture, not torchvision's, so that importing it stays cheap."""
    layout = list(architecture("vgg16"))
    torch.manual_seed(seed)
    layers, channels = [], 3
    for module in layout:
        if isinstance(module, nn.Conv2d):
            width = max(2, module.out_channels // divisor)
            module = nn.Conv2d(channels, width, kernel_size=3, padding=1)
            channels = width
        layers.append(module)
    return VGGFeatures(nn.Sequential(*layers))


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


def declared_png(path, width: int, height: int, color_type: int = 0, bit_depth: int = 1) -> None:
    """A PNG that declares ``width``×``height`` but is tiny on disk (all zeros, deflated as
    it is generated): an image bomb, or a huge image, without holding it in memory."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    row = b"\0" * (1 + (width * channels * bit_depth + 7) // 8)
    comp, parts = zlib.compressobj(9), []
    for _ in range(height):
        parts.append(comp.compress(row))
    parts.append(comp.flush())
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)))
        fh.write(chunk(b"IDAT", b"".join(parts)))
        fh.write(chunk(b"IEND", b""))
