"""The objective at one scale: J = α·J_content + β·J_style + γ·J_tv, its targets computed once.

``Objective`` evaluates a whole image in one pass; ``scale_objective`` hands the run loop
either that or the tiled one (tiles.py) behind the same two calls, so the loop never asks
which it has. Each region's style statistics are computed inside that region only. What an
objective reads of the job is its ``ObjectiveSpec`` (losses.py), not the request.
"""
from __future__ import annotations

import torch

from nst_contract.options import fit_longest

from ..services import images
from . import tiles
from .losses import ObjectiveSpec, carry_mask, gram, relative_sq_error, tv_loss


class Objective:
    """J = α·J_content + β·J_style + γ·J_tv at one scale, with targets computed once."""

    def __init__(self, net, spec: ObjectiveSpec, content: torch.Tensor, styles, masks, grams_of=None):
        """``grams_of(style tensor)`` → {layer: Gram}; default: computed here (``Reuse`` caches them)."""
        self.net, self.spec = net, spec
        self.layers = list(dict.fromkeys([spec.content_layer, *spec.style_layers]))
        grams_of = grams_of or (lambda style: style_grams(net, style, spec.style_layers))
        with torch.no_grad():
            self.content_target = net(content, [spec.content_layer])[spec.content_layer]
        self.targets = []  # per region: ({layer: Gram}, {layer: mask or None}, weight)
        for grams, mask, weight in region_targets(spec, styles, masks, grams_of):
            layer_masks = {layer: None for layer in spec.style_layers}
            if mask is not None:
                down = carry_mask(mask, net.geometry(net.names[-1]))
                layer_masks = {layer: down[layer] for layer in spec.style_layers}
            self.targets.append((grams, layer_masks, weight))

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict]:
        spec = self.spec
        feats = self.net(image, self.layers)
        content = relative_sq_error(feats[spec.content_layer], self.content_target)
        style = 0
        for grams, layer_masks, weight in self.targets:
            for layer, share in zip(spec.style_layers, spec.layer_weights):
                style = style + weight * share * relative_sq_error(gram(feats[layer], layer_masks[layer]), grams[layer])
        tv = tv_loss(image) if spec.tv_weight else image.new_zeros(())
        total = spec.content_weight * content + spec.style_weight * style + spec.tv_weight * tv
        terms = {name: float(v.detach()) if torch.is_tensor(v) else float(v)
                 for name, v in (("content", content), ("style", style), ("tv", tv), ("total", total))}
        return total, terms


def region_targets(spec: ObjectiveSpec, styles, masks, grams_of) -> list:
    """Per region: ({layer: the blend of its styles' Grams}, its mask at this scale or None, weight)."""
    out = []
    with torch.no_grad():
        for (blend, weight), region_styles, mask in zip(spec.regions, styles, masks):
            grams = {layer: 0 for layer in spec.style_layers}
            for style, share in zip(region_styles, blend):
                style_gram = grams_of(style)
                for layer in spec.style_layers:
                    grams[layer] = grams[layer] + share * style_gram[layer]
            out.append((grams, mask, weight))
    return out


def style_grams(net, style: torch.Tensor, layers) -> dict:
    """{layer: Gram matrix} of one style image as the network sees it: the style targets."""
    with torch.no_grad():
        feats = net(style, layers)
        return {layer: gram(feats[layer]) for layer in layers}


def style_views(style_scale: float, region_styles_t, scale_size, device):
    """Each style image at ``style_scale`` × this scale's longest side."""
    longest = round(max(scale_size) * style_scale)
    out = []
    for styles in region_styles_t:
        views = []
        for s in styles:
            w, h = fit_longest(s.shape[-1], s.shape[-2], longest)
            views.append(images.resize_tensor(s, (h, w)).to(device))
        out.append(views)
    return out


def scale_objective(net, spec: ObjectiveSpec, content, styles, masks, tile, reuse, cancel, on_tile=None,
                    on_setup=None) -> tuple:
    """(evaluate, value) at one scale. ``evaluate(image)`` → (total, terms) and leaves the
    gradient on ``image``'s graph; ``value(image)`` → terms. Tiled when ``tile`` is set, and then
    ``on_setup(done, total)`` follows the tiles of the styles' Grams and the content's features."""
    if tile is None:
        objective = Objective(net, spec, content, styles, masks,
                              None if reuse is None else (lambda s: reuse.style_grams(net, s, spec.style_layers)))

        def evaluate(image):
            total, terms = objective(image)
            total.backward()
            return total, terms

        def value(image):
            with torch.no_grad():
                return objective(image)[1]
        return evaluate, value
    return _tiled_objective(net, spec, content, styles, masks, tile, cancel, on_tile, on_setup)


def _tiled_objective(net, spec: ObjectiveSpec, content, styles, masks, tile, cancel, on_tile, on_setup) -> tuple:
    """``scale_objective`` for a scale computed tile by tile (tiles.py)."""
    def count(hw):
        return len(tiles.layout(tuple(hw), tile, tiles.align_of(net)))

    setup = {"done": 0, "total": sum(count(s.shape[-2:]) for ss in styles for s in ss) + count(content.shape[-2:])}

    def tick():
        setup["done"] += 1
        if on_setup is not None:
            on_setup(setup["done"], setup["total"])

    targets = region_targets(spec, styles, masks,
                             lambda s: tiles.tiled_grams(net, s, spec.style_layers, tile, cancel, tick))
    objective = tiles.TiledObjective(net, spec, content, targets, tile, cancel, on_tile, tick)

    def evaluate(image):
        total, terms, grad = objective.value_and_grad(image)
        image.backward(grad)  # through the region composite, onto the optimised pixels
        return total, terms
    return evaluate, objective.value
