"""The picture: where each layer's block, unit row and patch cell goes, and drawing it.

The layout is computed before anything is scanned (plan.py), so that a picture too large
to draw is refused early and the JSON index and the picture use the same boxes.
"""
from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from .fields import field_origin

MAX_PICTURE_PIXELS = 80_000_000


class Layout:
    """Where everything goes in the picture (computed before drawing, so the JSON and the picture agree)."""

    MARGIN, GAP, HEADER, LABEL_W = 12, 3, 22, 96

    def __init__(self, blocks, top: int, cell: int, gradients: bool):
        self.cell, self.top, self.gradients = cell, top, gradients
        per = 2 if gradients else 1
        self.pair = per * cell + (per - 1) * self.GAP  # a patch (and its gradient)
        self.width = 2 * self.MARGIN + self.LABEL_W + top * (self.pair + 2 * self.GAP)
        y = self.MARGIN
        self.blocks = []
        for layer, n_units in blocks:
            block_top = y
            y += self.HEADER
            rows = []
            for _ in range(n_units):
                rows.append(y)
                y += cell + 2 * self.GAP
            self.blocks.append((layer, block_top, rows, y))
            y += self.MARGIN
        self.height = y

    def cell_box(self, row_y: int, rank: int, gradient: bool = False) -> tuple:
        x = self.MARGIN + self.LABEL_W + rank * (self.pair + 2 * self.GAP)
        if gradient:
            x += self.cell + self.GAP
        return x, row_y, x + self.cell, row_y + self.cell


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: bitmap font only
        return ImageFont.load_default()


def _resample(scale: float):
    return Image.Resampling.NEAREST if scale >= 2 else Image.Resampling.LANCZOS


def _patch_view(rgb: Image.Image, info, box, cell: int) -> tuple:
    """(an empty cell, the clipped patch at the layer's common scale cell / field)."""
    x0, y0, x1, y1 = box
    scale = cell / info.field
    tile = Image.new("RGB", (cell, cell), (96, 96, 96))
    w, h = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    return tile, rgb.crop(box).resize((min(w, cell), min(h, cell)), _resample(scale))


def _paste_patch(picture: Image.Image, p, rgb: Image.Image, info, cell: int, gradient) -> None:
    """One patch (and its gradient, if any) into its cell(s)."""
    tile, view = _patch_view(rgb, info, p.box, cell)
    fx, fy = field_origin(info, *p.position)
    scale = cell / info.field
    ox = min(cell - view.width, max(0, round((p.box[0] - fx) * scale)))
    oy = min(cell - view.height, max(0, round((p.box[1] - fy) * scale)))
    tile.paste(view, (ox, oy))
    picture.paste(tile, p.cell[:2])
    if p.gradient_cell is not None:
        gtile = Image.new("RGB", (cell, cell), (96, 96, 96))
        gtile.paste(gradient.resize(view.size, _resample(scale)), (ox, oy))
        picture.paste(gtile, p.gradient_cell[:2])


def draw(plan, unit_rows: dict, grads: dict) -> Image.Image:
    """The picture: per layer a header, then per unit its label and its best patches (``grads``:
    {id(patch): gradient picture})."""
    req, layout = plan.req, plan.layout
    picture = Image.new("RGB", (layout.width, layout.height), (255, 255, 255))
    pen = ImageDraw.Draw(picture)
    head_font, label_font = _font(14), _font(11)
    for b, layer in enumerate(plan.layers):
        li = plan.info[layer]
        _, block_top, _, block_bottom = layout.blocks[b]
        rule = ("chosen units" if plan.wanted_ids[layer] is not None
                else f"top {plan.n_units[layer]} units by mean activation")
        pen.text((layout.MARGIN, block_top + 3),
                 f"{layer}: field {li.field} px, stride {li.stride}; {rule}; best {req.top} patches each",
                 fill=(0, 0, 0), font=head_font)
        for row in unit_rows[layer]:
            pen.text((layout.MARGIN, row.y + 2), f"unit {row.unit}", fill=(0, 0, 0), font=label_font)
            pen.text((layout.MARGIN, row.y + 16), f"mean {row.mean:.3g}", fill=(90, 90, 90), font=label_font)
            for rank in range(req.top):
                for grad_cell in ((False, True) if req.gradients else (False,)):
                    x0, y0, x1, y1 = layout.cell_box(row.y, rank, grad_cell)
                    pen.rectangle((x0 - 1, y0 - 1, x1, y1), outline=(200, 200, 200))
            for p in row.patches:
                _paste_patch(picture, p, plan.sources[p.image_index].rgb, li, req.cell, grads.get(id(p)))
        if b + 1 < len(plan.layers):
            y = block_bottom + layout.MARGIN // 2
            pen.line((layout.MARGIN, y, layout.width - layout.MARGIN, y), fill=(160, 160, 160))
    return picture
