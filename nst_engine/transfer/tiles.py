"""The objective of a large image, computed tile by tile so memory is bounded by the tile.

Design: the *exact* full-image objective and gradient, accumulated over overlapping tiles,
with one optimiser over the whole image (not each tile optimised on its own):

1. a forward pass per tile (no gradient) adds the tile's share to each layer's Gram matrix,
   so the style term compares the whole image's Gram with the style's — never a tile's own;
2. a forward+backward pass per tile, of ⟨∂J/∂G, G_tile⟩ + the tile's content term, adds the
   tile's gradient into one full-size gradient image.

Each tile owns a *core* (the tiles' cores partition the image) and is computed on its core
plus a *halo* of context, so that the features of core positions are (nearly) those of the
whole image; only core positions count. Cores start on multiples of the deepest layer's
stride, so every layer's grid is cut exactly at core edges. Because the optimiser sees one
image and one gradient, there is nothing to blend and no seam by construction; what remains
of the tiling is the halo's truncated context, measured by the seam test.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..services.cancel import check
from .losses import EPS, ObjectiveSpec, carry_mask, gram, tv_loss

# Context around each tile's core, in input pixels (rounded up to the deepest stride). VGG's
# deep units see ~200 px, but most of their weight is near the centre; 64 px keeps the tiled
# objective within 1 % of the untiled one (tests/engine/test_tiles.py) for 1.3–1.6× the pixels.
HALO = 64
# Tile sizes: a scale whose whole-image pass does not fit in the memory measured free is computed
# tile by tile, with cores of TILE_SIZE px, halved down to MIN_TILE_SIZE until it fits (budget.py).
TILE_SIZE = 1024
MIN_TILE_SIZE = 256


@dataclass(frozen=True)
class Tile:
    core: tuple  # (y0, y1, x0, x1): the pixels this tile is responsible for
    crop: tuple  # (y0, y1, x0, x1): core + halo, inside the image


def _cuts(length: int, tile: int, align: int) -> list:
    n = max(1, -(-length // tile))
    cuts = [0] + [round(i * length / n / align) * align for i in range(1, n)] + [length]
    return sorted(set(cuts))


def layout(size_hw, tile: int, align: int = 16, halo: int = HALO) -> list:
    """Tiles of at most ``tile`` px of core per side covering an (h, w) image."""
    h, w = size_hw
    halo = -(-halo // align) * align
    ys, xs = _cuts(h, tile, align), _cuts(w, tile, align)
    out = []
    for y0, y1 in zip(ys, ys[1:]):
        for x0, x1 in zip(xs, xs[1:]):
            crop = (max(0, y0 - halo), min(h, y1 + halo), max(0, x0 - halo), min(w, x1 + halo))
            out.append(Tile((y0, y1, x0, x1), crop))
    return out


def crop(t: torch.Tensor, box) -> torch.Tensor:
    y0, y1, x0, x1 = box
    return t[..., y0:y1, x0:x1]


def core_of(feature: torch.Tensor, tile: Tile, stride: int, size_hw) -> torch.Tensor:
    """The part of a layer's activation (computed on ``tile.crop``) that lies in the tile's core."""
    (y0, y1, x0, x1), (cy0, _, cx0, _) = tile.core, tile.crop
    h, w = size_hw
    fy1 = feature.shape[-2] if y1 == h else (y1 - cy0) // stride
    fx1 = feature.shape[-1] if x1 == w else (x1 - cx0) // stride
    return feature[..., (y0 - cy0) // stride:fy1, (x0 - cx0) // stride:fx1]


def tiled_grams(net, image: torch.Tensor, layers, tile: int, cancel=None, on_tile=None) -> dict:
    """{layer: Gram} of a whole image too large for one pass (a large style image), tile by tile.
    ``on_tile()``: called after each tile (progress: at 4096 px this takes minutes)."""
    strides = {name: info.stride for name, info in net.layer_info().items()}
    hw = tuple(image.shape[-2:])
    sums, counts = {layer: 0 for layer in layers}, {layer: 0 for layer in layers}
    with torch.no_grad():
        for t in layout(hw, tile, align_of(net)):
            check(cancel)
            feats = net(crop(image, t.crop), layers)
            for layer in layers:
                f = core_of(feats[layer], t, strides[layer], hw)
                sums[layer] = sums[layer] + gram(f, n=1.0)
                counts[layer] += f.shape[-1] * f.shape[-2]
            if on_tile is not None:
                on_tile()
    return {layer: sums[layer] / counts[layer] for layer in layers}


def align_of(net) -> int:
    return max(info.stride for info in net.layer_info().values())


class TiledObjective:
    """Objective's terms for a whole image, evaluated tile by tile (see the module's docstring).

    ``spec``: the layers and weights (``losses.ObjectiveSpec``); ``targets``: per region
    ({layer: target Gram}, full-size mask (1, 1, H, W) or None, weight), as
    ``objective.region_targets`` builds them; ``content``: the content image at this scale.
    """

    def __init__(self, net, spec: ObjectiveSpec, content, targets, tile: int, cancel=None,
                 on_tile=None, on_setup=None):
        """``on_tile(done, total)``: called after each tile pass of an evaluation (progress);
        ``on_setup()``: after each tile of the content's features computed here."""
        self.net, self.spec, self.cancel, self.on_tile = net, spec, cancel, on_tile
        self.hw = tuple(content.shape[-2:])
        self.tiles = layout(self.hw, tile, align_of(net))
        self.strides = {name: info.stride for name, info in net.layer_info().items()}
        self.layers = list(dict.fromkeys([spec.content_layer, *spec.style_layers]))
        steps = net.geometry(net.names[-1])
        self.targets, self.masks, self.norms = [], [], []
        for grams, mask, weight in targets:
            carried = [None if mask is None else carry_mask(crop(mask, t.crop), steps) for t in self.tiles]
            self.masks.append([None if c is None else {layer: core_of(c[layer], t, self.strides[layer], self.hw)
                                                       for layer in spec.style_layers}
                               for c, t in zip(carried, self.tiles)])
            self.targets.append((grams, weight))
            self.norms.append({layer: float(g.pow(2).sum().clamp_min(EPS)) for layer, g in grams.items()})
        with torch.no_grad():  # the content's features at each core, kept (one layer, deep: small)
            self.content_cores = []
            for t in self.tiles:
                check(cancel)
                f = net(crop(content, t.crop), [spec.content_layer])[spec.content_layer]
                self.content_cores.append(core_of(f, t, self.strides[spec.content_layer], self.hw).clone())
                if on_setup is not None:
                    on_setup()
        self.content_norm = float(sum(c.pow(2).sum() for c in self.content_cores).clamp_min(EPS))
        self.counts = [{layer: self._count(r, layer) for layer in spec.style_layers} for r in range(len(targets))]

    def _count(self, region: int, layer: str) -> float:
        """Positions (or mask weight) of a layer over the whole image: the Gram's normaliser."""
        total = 0.0
        for t, masks in zip(self.tiles, self.masks[region]):
            if masks is None:
                y0, y1, x0, x1 = t.core
                total += _cells(y0, y1, self.hw[0], self.strides[layer]) * _cells(x0, x1, self.hw[1], self.strides[layer])
            else:
                total += float(masks[layer].sum())
        return max(total, EPS)

    def _tile_grams(self, feats, i):
        """Per region, {layer: this tile's core's Gram, divided by the whole image's count}."""
        t = self.tiles[i]
        out = []
        for r in range(len(self.targets)):
            masks = self.masks[r][i]
            out.append({layer: gram(core_of(feats[layer], t, self.strides[layer], self.hw),
                                    None if masks is None else masks[layer], n=self.counts[r][layer])
                        for layer in self.spec.style_layers})
        return out

    def _content_term(self, feats, i) -> torch.Tensor:
        layer = self.spec.content_layer
        f = core_of(feats[layer], self.tiles[i], self.strides[layer], self.hw)
        return (f - self.content_cores[i]).pow(2).sum() / self.content_norm

    def _tile_done(self, done: int, total: int) -> None:
        if self.on_tile is not None:
            self.on_tile(done, total)

    def _pass_one(self, image, passes: int) -> tuple:
        """The whole image's Grams (per region) and content term: one forward per tile."""
        grams = [{layer: 0 for layer in self.spec.style_layers} for _ in self.targets]
        content = 0.0
        with torch.no_grad():
            for i, t in enumerate(self.tiles):
                check(self.cancel)
                feats = self.net(crop(image, t.crop), self.layers)
                content += float(self._content_term(feats, i))
                for r, tile_grams in enumerate(self._tile_grams(feats, i)):
                    for layer, g in tile_grams.items():
                        grams[r][layer] = grams[r][layer] + g
                self._tile_done(i + 1, passes * len(self.tiles))
        return grams, content

    def value(self, image: torch.Tensor) -> dict:
        """{term: value} of a full-size ``image``."""
        return self._evaluate(image.detach(), with_grad=False)[1]

    def value_and_grad(self, image: torch.Tensor) -> tuple:
        """(total, {term: value}, ∂total/∂image) for a full-size ``image`` (no grad needed on it)."""
        return self._evaluate(image.detach(), with_grad=True)

    def _evaluate(self, image, with_grad: bool) -> tuple:
        grams, content = self._pass_one(image, 2 if with_grad else 1)
        style, d_grams = self._style_term(grams)
        grad = self._pass_two(image, d_grams) if with_grad else None
        tv = self._tv_term(image, grad)
        total = self.spec.content_weight * content + self.spec.style_weight * style + self.spec.tv_weight * tv
        terms = {"content": content, "style": style, "tv": tv, "total": total}
        return torch.tensor(total), terms, grad

    def _style_term(self, grams) -> tuple:
        """(the style term of the whole image's ``grams``, per region {layer: ∂J/∂Gram}: what
        pass 2 pulls back through each tile)."""
        style, d_grams = 0.0, []
        for (targets, weight), g, norms in zip(self.targets, grams, self.norms):
            d = {}
            for layer, share in zip(self.spec.style_layers, self.spec.layer_weights):
                diff = g[layer] - targets[layer]
                style += weight * share * float(diff.pow(2).sum()) / norms[layer]
                d[layer] = 2 * self.spec.style_weight * weight * share * diff / norms[layer]
            d_grams.append(d)
        return style, d_grams

    def _pass_two(self, image, d_grams) -> torch.Tensor:
        """∂(content and style terms)/∂image, tile by tile: each tile's Grams weighted by ``d_grams``."""
        n = len(self.tiles)
        grad = torch.zeros_like(image)
        for i, t in enumerate(self.tiles):
            check(self.cancel)
            x = crop(image, t.crop).clone().requires_grad_(True)
            feats = self.net(x, self.layers)
            surrogate = self.spec.content_weight * self._content_term(feats, i)
            for d, tile_grams in zip(d_grams, self._tile_grams(feats, i)):
                for layer, g in tile_grams.items():
                    surrogate = surrogate + (d[layer] * g).sum()
            surrogate.backward()
            crop(grad, t.crop).add_(x.grad)
            self._tile_done(n + i + 1, 2 * n)
        return grad

    def _tv_term(self, image, grad) -> float:
        """The total-variation term of the whole image (cheap: no tiles); its gradient added
        to ``grad`` when there is one."""
        if not self.spec.tv_weight:
            return 0.0
        y = image.clone().requires_grad_(grad is not None)
        term = tv_loss(y)
        if grad is not None:
            (self.spec.tv_weight * term).backward()
            grad += y.grad
        return float(term.detach())


def _cells(a: int, b: int, length: int, stride: int) -> int:
    """Grid cells of a layer at ``stride`` inside the pixel span [a, b) of an axis of ``length``."""
    end = length // stride if b == length else b // stride
    return end - a // stride


def seam_ratio(image, tile_list, band: int = 2, near: int | None = None) -> float:
    """Mean gradient magnitude of ``image`` (PIL or (H, W[, C]) array) within ``band`` px of
    the tiles' inner borders, divided by its mean elsewhere: ≈1 when no seam shows.

    ``near``: "elsewhere" is only the rest of the strips ``near`` px either side of the borders,
    which compares a border with its own surroundings rather than with the whole picture
    (whose detail differs from place to place: sky, roofs)."""
    import numpy as np

    a = np.asarray(image, dtype=np.float64)
    a = a if a.ndim == 3 else a[..., None]
    h, w = a.shape[:2]
    gy = np.zeros((h, w))
    gx = np.zeros((h, w))
    gy[:-1] = np.abs(np.diff(a, axis=0)).sum(-1)
    gx[:, :-1] = np.abs(np.diff(a, axis=1)).sum(-1)
    magnitude = np.hypot(gy, gx)

    def strips(width):
        out = np.zeros((h, w), bool)
        for t in tile_list:
            y0, y1, x0, x1 = t.core
            for y in (y0, y1):
                if 0 < y < h:
                    out[max(0, y - width):y + width, x0:x1] = True
            for x in (x0, x1):
                if 0 < x < w:
                    out[y0:y1, max(0, x - width):x + width] = True
        return out

    border = strips(band)
    rest = ~border if near is None else strips(near) & ~border
    return float(magnitude[border].mean() / magnitude[rest].mean())
