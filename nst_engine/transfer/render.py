"""The region composite, and the optimised image made into the picture that is saved.

Outside the regions the result is the content itself, at every step (the optimiser only
ever sees the composite) and in the saved picture; what the user asked to keep goes back
on at the end: the content's colours (luminance), gray, alpha.
"""
from __future__ import annotations

import torch

from nst_contract.requests import StylizeRequest

from ..services import images
from . import color
from .planning import StylizePlan


def tensor_mask(mask_img, hw, device) -> torch.Tensor | None:
    if mask_img is None:
        return None
    return images.resize_tensor(images.to_tensor(mask_img), hw).to(device)


def mask_union(masks):
    present = [m for m in masks if m is not None]
    if len(present) < len(masks) or not present:
        return None  # some region covers everything
    union = present[0]
    for m in present[1:]:
        union = torch.maximum(union, m)
    return union


def composite(x, content, union):
    return x if union is None else union * x + (1 - union) * content


def picture(x, content_full, plan_: StylizePlan, req: StylizeRequest, device, size):
    """``x`` (at ``size``) as the picture that is saved: the content's colours back (luminance),
    the content itself outside the region, gray and alpha as the content had them."""
    w, h = size
    with torch.no_grad():
        content = images.resize_tensor(content_full, (h, w))
        styled = color.recombine(x, content) if req.preserve_color == "luminance" else x
        union = mask_union([tensor_mask(r.mask, (h, w), device) for r in plan_.regions])
        # Outside the region the result is the content itself, exactly (0·styled + 1·content).
        result = composite(styled, content, union)
    return _finish(images.to_pil(result), plan_.content, size)


def _finish(image, content: images.SplitImage, size):
    """Gray in → gray out; the content's alpha goes back on."""
    if content.gray:
        image = image.convert("L")
    if content.alpha is not None:
        alpha = images.resize(content.alpha, size)
        image = image.convert("LA" if content.gray else "RGBA")
        image.putalpha(alpha)
    return image
