"""Gradients: how each pixel of a patch moves the unit's activation (``--gradients``).

Always computed with torch (they need autograd), on a crop that reproduces the unit's
activation exactly (fields.field_crop), so each costs a forward and backward pass over
about one receptive field, not over the whole image.
"""
from __future__ import annotations

import torch
from PIL import Image

from ..services import images
from ..services.cancel import check
from .fields import field_box, field_crop


def gradient_patch(net, layer: str, info, rgb: Image.Image, unit: int, row: int, col: int) -> Image.Image:
    """d activation / d input over the unit's clipped field, as RGB: 0.5 gray = no effect, normalised by |max|."""
    width, height = rgb.size
    (x0, y0, x1, y1), (r, c) = field_crop(info, row, col, width, height)
    crop = images.to_tensor(rgb.crop((x0, y0, x1, y1))).to(next(net.parameters()).device)
    crop.requires_grad_(True)
    with torch.enable_grad():
        act = net(crop, [layer])[layer][0, unit, r, c]
        act.backward()
    grad = crop.grad[0].detach().cpu()
    bx0, by0, bx1, by1 = field_box(info, row, col, width, height)
    grad = grad[:, by0 - y0: by1 - y0, bx0 - x0: bx1 - x0]
    scale = float(grad.abs().max())
    shown = 0.5 + 0.5 * grad / scale if scale > 0 else torch.full_like(grad, 0.5)
    return images.to_pil(shown[None])


def gradient_patches(plan, net, patches: list, report, cancel) -> dict:
    """{id(patch): gradient picture} for every patch; a progress event every ``top`` patches, a cancel
    check per patch. Progress goes on from where the scan ended (plan.scan_share) to 0.95."""
    req, info = plan.req, plan.info
    grads = {}
    done, total = 0.0, float(sum(min(info[p.layer].field, req.size) ** 2 for p in patches)) or 1.0
    for k, p in enumerate(patches):
        check(cancel)
        grads[id(p)] = gradient_patch(net, p.layer, info[p.layer], plan.sources[p.image_index].rgb,
                                      p.unit, *p.position)
        done += min(info[p.layer].field, req.size) ** 2
        if (k + 1) % req.top == 0 or k + 1 == len(patches):
            report.progress("gradients", k + 1, len(patches),
                            plan.scan_share + (0.95 - plan.scan_share) * done / total)
    return grads
