"""VGG feature extractor with named layers (conv1_1, relu1_1, pool1, ...).

The names are derived from the ``features`` Sequential itself: a block counter
advances at every pooling layer, a conv counter at every convolution, and each
ReLU takes the name of the conv before it. No hand-written tables of names.

The Sequential is built here, module for module as torchvision's ``vgg16/vgg19().features``
(tests/engine/test_vgg.py checks that), from the paper's configurations, so that the engine
never imports torchvision to run: importing it costs about 3 s of a 2-core CPU (its ``ops``
import ``torch._dynamo``), which is most of what a dialog preview waits for.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nst_contract.options import MODELS as MODEL_NAMES  # ("vgg19", "vgg16"): the names the contract offers
from nst_contract.options import POOLINGS

# Simonyan & Zisserman, "Very Deep Convolutional Networks", Table 1: convolutions per block
# (configurations D and E; torchvision's cfgs "D" and "E"). Every block's convolutions are
# 3x3 with padding 1, each followed by a ReLU, and the block ends with a 2x2 max pooling.
MODELS = dict(zip(MODEL_NAMES, ((2, 2, 4, 4, 4), (2, 2, 3, 3, 3))))
BLOCK_WIDTHS = (64, 128, 256, 512, 512)
# torchvision's convention: RGB in [0, 1], then ImageNet normalisation.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_names(features: nn.Sequential) -> list[str]:
    """Name every module of a VGG ``features`` stack from its structure."""
    names, block, conv = [], 1, 0
    for module in features:
        if isinstance(module, nn.Conv2d):
            conv += 1
            names.append(f"conv{block}_{conv}")
        elif isinstance(module, nn.ReLU):
            names.append(f"relu{block}_{conv}")
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            names.append(f"pool{block}")
            block, conv = block + 1, 0
        else:
            raise ValueError(f"unexpected module in VGG features: {module!r}")
    return names


def architecture(model: str) -> nn.Sequential:
    """The ``features`` stack of a VGG (torchvision's module order, so its state-dict keys fit),
    on the meta device: shapes only, no memory, instant.

    ``load_state_dict(..., assign=True)`` then gives it real weights.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    layers, channels = [], 3
    with torch.device("meta"):
        for convs, width in zip(MODELS[model], BLOCK_WIDTHS):
            for _ in range(convs):
                layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                channels = width
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        return nn.Sequential(*layers)


def available_layers(model: str) -> list[str]:
    return layer_names(architecture(model))


@dataclass(frozen=True)
class LayerInfo:
    """Geometry of one named layer: what a unit there sees of the input."""

    name: str
    channels: int
    stride: int  # input pixels per step of this layer's grid
    field: int  # receptive-field side in input pixels
    offset: float  # input coordinate of the field's centre for grid position 0


class VGGFeatures(nn.Module):
    """Runs the VGG stack up to the deepest requested layer and returns those activations.

    Parameters are frozen; pooling can be max (torchvision's) or average (Gatys et
    al. found average pooling gives smoother results).
    """

    def __init__(self, features: nn.Sequential, pooling: str = "max"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}")
        self.names = layer_names(features)
        layers = []
        for module in features:
            if isinstance(module, nn.MaxPool2d) and pooling == "avg":
                module = nn.AvgPool2d(module.kernel_size, module.stride, module.padding)
            elif isinstance(module, nn.ReLU):
                module = nn.ReLU(inplace=False)  # we read activations before later layers touch them
            layers.append(module)
        self.layers = nn.ModuleList(layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()
        self.memory_format = torch.contiguous_format
        self.autocast_dtype = None  # e.g. torch.bfloat16: the layers run in it, outputs come back float32

    def channels_last(self) -> "VGGFeatures":
        """NHWC layout: oneDNN's convolutions run about 12 % faster on some CPUs this way."""
        return self.set_numerics(torch.channels_last, self.autocast_dtype)

    def set_numerics(self, memory_format, autocast_dtype=None) -> "VGGFeatures":
        """Layout of the activations and the layers' compute type (numerics.py measures which is fastest)."""
        self.memory_format = memory_format
        self.autocast_dtype = autocast_dtype
        return self.to(memory_format=memory_format)

    def check_layers(self, wanted) -> None:
        unknown = [name for name in wanted if name not in self.names]
        if unknown:
            raise KeyError(
                f"unknown layer name(s) {', '.join(unknown)}; this network has "
                f"{', '.join(n for n in self.names if not n.startswith('pool'))}"
            )

    def truncate(self, wanted) -> "VGGFeatures":
        """Drop the layers after the deepest one a run needs (they cost time, change nothing)."""
        self.check_layers(wanted)
        last = max(self.names.index(name) for name in wanted)
        self.layers = self.layers[: last + 1]
        self.names = self.names[: last + 1]
        return self

    def forward(self, image: torch.Tensor, wanted) -> dict[str, torch.Tensor]:
        """``image``: (N, 3, H, W) RGB in [0, 1]. Returns {layer name: activation}."""
        wanted = set(wanted)
        x = ((image - self.mean) / self.std).contiguous(memory_format=self.memory_format)
        out = {}
        # Only the layers run in the reduced precision; what callers get (Grams, losses) is float32.
        with torch.autocast(x.device.type, dtype=self.autocast_dtype or torch.bfloat16,
                            enabled=self.autocast_dtype is not None):
            for name, layer in zip(self.names, self.layers):
                x = layer(x)
                if name in wanted:
                    out[name] = x
                    if len(out) == len(wanted):
                        break
        return {name: value.float() for name, value in out.items()}

    def geometry(self, upto: str):
        """(name, kernel, stride, padding) of each layer up to ``upto``.

        Used to carry region masks down the network and to compute receptive fields.
        """
        steps = []
        for name, layer in zip(self.names, self.layers):
            if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
                k, s, p = (v if isinstance(v, int) else v[0]
                           for v in (layer.kernel_size, layer.stride, layer.padding))
            else:
                k, s, p = 1, 1, 0
            steps.append((name, k, s, p))
            if name == upto:
                break
        return steps

    def layer_info(self) -> dict[str, LayerInfo]:
        """Receptive field of every layer, from kernels, strides and paddings.

        Standard recurrence: field_l = field_{l-1} + (k-1)·jump_{l-1};
        jump_l = jump_{l-1}·s; start_l = start_{l-1} + ((k-1)/2 - p)·jump_{l-1}.
        """
        info, field, jump, start, channels = {}, 1, 1, 0.0, 3
        for (name, k, s, p), layer in zip(self.geometry(self.names[-1]), self.layers):
            if isinstance(layer, nn.Conv2d):
                channels = layer.out_channels
            field += (k - 1) * jump
            start += ((k - 1) / 2 - p) * jump
            jump *= s
            info[name] = LayerInfo(name, channels, jump, field, start)
        return info
