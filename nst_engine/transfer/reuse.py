"""The network a request needs, and what a long-lived engine keeps between requests.

``network`` loads the VGG truncated after the deepest layer the objective reads, on the
device, in the numerics measured fastest here; ``Reuse`` (``serve``) keeps those networks
and the style images' Gram targets so that a second job with the same style skips them.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import torch

from nst_contract.requests import StylizeRequest

from ..services.weights import load_features
from . import numerics
from .objective import style_grams


def network(req: StylizeRequest, device, fresh: bool = False) -> tuple:
    """(VGG features for this request, where the weights came from, its ``Numerics``): truncated
    after the deepest layer the objective needs, on ``device``, in the precision and layout
    measured fastest on this machine (numerics.py) or asked for."""
    net, source = load_features(req.model, req.weights, req.pooling)
    net = net.truncate([req.content_layer, *req.style_layers]).to(device)
    layout = req.layout
    if device.type == "mps" and layout == numerics.AUTO:
        layout = "contiguous"  # MPS's channels-last convolutions are not dependable across versions
    chosen = numerics.resolve(net, device, req.model, req.precision, layout, fresh=fresh)
    return net, source, chosen


class Reuse:
    """What a long-lived engine (``serve``) keeps between ``stylize()`` calls: the loaded
    networks and the style images' Gram targets.

    Grams are keyed by a digest of the exact tensor the network sees (plus the network and the
    layers), not by the style's file name: a changed file, result size, style scale or colour
    option gives a different tensor, so a stale entry can never be hit, and the same style at
    the same size is recomputed never. ``hits``/``misses`` count Gram look-ups (tests, logs).
    """

    def __init__(self, max_grams: int = 32):
        self.networks = {}
        self.grams = OrderedDict()
        self.max_grams = max_grams
        self.hits = self.misses = 0

    def network(self, req: StylizeRequest, device) -> tuple:
        key = (req.model, str(req.weights), req.pooling, req.content_layer, tuple(req.style_layers), str(device),
               req.precision, req.layout)
        if key not in self.networks:
            self.networks[key] = network(req, device)
        return self.networks[key]

    def style_grams(self, net, style: torch.Tensor, layers) -> dict:
        digest = hashlib.sha1(style.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
        key = (id(net), tuple(layers), tuple(style.shape), digest)
        if key in self.grams:
            self.hits += 1
            self.grams.move_to_end(key)
            return self.grams[key]
        self.misses += 1
        self.grams[key] = style_grams(net, style, layers)
        while len(self.grams) > self.max_grams:
            self.grams.popitem(last=False)
        return self.grams[key]
