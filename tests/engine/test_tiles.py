"""tiles.py: the tile-by-tile objective equals the whole image's (tiny random network, fast)."""
from types import SimpleNamespace

import pytest
import torch

from engine_helpers import tiny_vgg
from nst_engine import tiles
from nst_engine.request import StylizeRequest
from nst_engine.transfer import Objective, style_grams


def test_layout_cores_partition_the_image_on_stride_multiples():
    h, w = 300, 517
    cover = torch.zeros(h, w, dtype=torch.int32)
    found = tiles.layout((h, w), 128, align=16, halo=40)
    assert len(found) == 3 * 5
    for t in found:
        y0, y1, x0, x1 = t.core
        cover[y0:y1, x0:x1] += 1
        assert all(v % 16 == 0 or v in (h, w) for v in t.core)
        cy0, cy1, cx0, cx1 = t.crop
        assert cy0 == max(0, y0 - 48) and cy1 == min(h, y1 + 48) and cx0 == max(0, x0 - 48)
    assert bool((cover == 1).all())


def _setup(mask=None, seed=0, hw=(150, 200)):
    torch.manual_seed(seed)
    net = tiny_vgg(seed)
    req = StylizeRequest(content="x", style_weight=20.0)
    content = torch.rand(1, 3, *hw)
    style = torch.rand(1, 3, 120, 130)
    image = (content + 0.2 * torch.randn_like(content)).clamp(0, 1)
    layer_weights = [0.2] * 5
    plan_ = SimpleNamespace(regions=[SimpleNamespace(blend=[1.0], weight=1.0)], layer_weights=layer_weights,
                            style_weight=20.0)
    whole = Objective(net, req, plan_, content, [[style]], [mask])
    targets = [(style_grams(net, style, req.style_layers), mask, 1.0)]
    return net, req, content, image, whole, targets, layer_weights


@pytest.mark.parametrize("masked", [False, True])
def test_with_a_halo_covering_the_image_tiles_give_the_exact_objective_and_gradient(masked, monkeypatch):
    mask = None
    if masked:
        mask = torch.zeros(1, 1, 150, 200)
        mask[..., 60:] = 1.0
        mask[..., 40:60] = 0.5
    net, req, content, image, whole, targets, lw = _setup(mask)
    x = image.clone().requires_grad_(True)
    total, terms = whole(x)
    total.backward()
    monkeypatch.setattr(tiles, "HALO", 1000)
    tiled = tiles.TiledObjective(net, req, lw, 20.0, content, targets, tile=64)
    assert len(tiled.tiles) == 3 * 4
    t_total, t_terms, grad = tiled.value_and_grad(image)
    for name in ("content", "style", "total"):
        assert t_terms[name] == pytest.approx(terms[name], rel=1e-4)
    assert torch.allclose(grad, x.grad, rtol=1e-3, atol=1e-4 * float(x.grad.abs().max()))


def test_with_the_default_halo_the_objective_and_gradient_stay_close():
    net, req, content, image, whole, targets, lw = _setup(hw=(256, 320))
    x = image.clone().requires_grad_(True)
    total, terms = whole(x)
    total.backward()
    tiled = tiles.TiledObjective(net, req, lw, 20.0, content, targets, tile=128)
    assert len(tiled.tiles) == 2 * 3
    _, t_terms, grad = tiled.value_and_grad(image)
    assert t_terms["total"] == pytest.approx(terms["total"], rel=0.02)
    cosine = float((grad * x.grad).sum() / (grad.norm() * x.grad.norm()))
    assert cosine > 0.98


def test_tiled_grams_of_a_large_style_match_the_whole_images():
    net = tiny_vgg(1)
    style = torch.rand(1, 3, 200, 260)
    layers = ["relu1_1", "relu3_1", "relu5_1"]
    whole = style_grams(net, style, layers)
    tiled = tiles.tiled_grams(net, style, layers, tile=2000)  # one tile: exact
    for layer in layers:
        assert torch.allclose(tiled[layer], whole[layer], rtol=1e-4, atol=1e-6)
    tiled = tiles.tiled_grams(net, style, layers, tile=96)
    for layer in layers:
        err = float((tiled[layer] - whole[layer]).norm() / whole[layer].norm())
        assert err < 0.05, layer
