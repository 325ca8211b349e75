# Executed INSIDE gimp-console-3.0 (python-fu-eval batch interpreter) by tests/gimp/harness/batch.py:
#   -b 'NST_PARAMS="/path/params.json"; exec(open("/path/batch_cases.py").read())'
# Builds images, calls plug-in-neural-style-transfer non-interactively and writes what it
# found to params["out"] (JSON). The pytest side asserts on that file: GIMP's exit status
# alone is not trusted.
import hashlib
import json
import os
import time
import traceback

import gi
gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

from gimp_calls import run_procedure, save_results  # noqa: E402

P = json.load(open(NST_PARAMS))  # noqa: F821  (defined by the -b command)
IMAGES = P["images"]
PROC = "plug-in-neural-style-transfer"
RESULTS = {"cases": {}, "gimp_version": Gimp.version()}


def save():
    save_results(RESULTS, P["out"])


def rect_bytes(drawable, x, y, w, h, fmt):
    return bytes(drawable.get_buffer().get(Gegl.Rectangle.new(x, y, w, h), 1.0, fmt,
                                           Gegl.AbyssPolicy.NONE))


def layer_bytes(layer, fmt="R'G'B'A u8"):
    return rect_bytes(layer, 0, 0, layer.get_width(), layer.get_height(), fmt)


def digest(data):
    return hashlib.sha1(data).hexdigest()


def put(drawable, fmt, data):
    buf = drawable.get_buffer()
    buf.set(Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height()), fmt, data)
    buf.flush()


def snapshot(image):
    """Every layer (groups recursively; a group's own pixels are its children's projection,
    so not hashed) with name, size, offsets, pixel and mask hashes."""
    out = []

    def walk(layers, depth):
        for layer in layers:
            ok, x, y = layer.get_offsets()
            mask = layer.get_mask()
            group = layer.is_group()
            out.append({"name": layer.get_name(), "id": layer.get_id(), "depth": depth,
                        "size": [layer.get_width(), layer.get_height()] if not group else None,
                        "offsets": [x, y] if not group else None,
                        "pixels": None if group else digest(layer_bytes(layer)),
                        "mask": digest(layer_bytes(mask, "Y u8")) if mask else None})
            if group:
                walk(layer.get_children(), depth + 1)
    walk(image.get_layers(), 0)
    return out


def photo_image(name="tubingen.jpg", size=(96, 64), canvas=(120, 90), offsets=(10, 7)):
    """Image: [top (small, transparent), photo (offset), background]."""
    img = Gimp.Image.new(canvas[0], canvas[1], Gimp.ImageBaseType.RGB)
    bg = Gimp.Layer.new(img, "background", canvas[0], canvas[1], Gimp.ImageType.RGB_IMAGE, 100.0,
                        Gimp.LayerMode.NORMAL)
    img.insert_layer(bg, None, 0)
    bg.fill(Gimp.FillType.WHITE)
    photo = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, img,
                                 Gio.File.new_for_path(os.path.join(IMAGES, name)))
    img.insert_layer(photo, None, 0)
    photo.set_name("photo")
    photo.scale(size[0], size[1], False)
    photo.set_offsets(*offsets)
    top = Gimp.Layer.new(img, "top", 20, 20, Gimp.ImageType.RGBA_IMAGE, 100.0,
                         Gimp.LayerMode.NORMAL)
    img.insert_layer(top, None, 0)
    top.fill(Gimp.FillType.TRANSPARENT)
    img.clean_all()
    return img, photo


def call(img, layer, **args):
    info, result = run_procedure(PROC, args, ("style-file",), img, [layer])
    v = result.index(1) if result.length() > 1 else None
    if isinstance(v, Gimp.Layer):
        info["returned_layer"] = v.get_id()
    return info


DEFAULTS = dict(preset="draft", size=0, strength=0.5, seed=1, iterations=P.get("iterations", 8))


def check_result(img, src, before, info, region_mask=None):
    """Common checks of a successful run; region_mask = expected mask bytes or None."""
    parent = src.get_parent()
    layers = parent.get_children() if parent is not None else img.get_layers()
    names = [l.get_name() for l in layers]
    info["layers_before"] = info.get("siblings_before") or [l["name"] for l in before
                                                             if l["depth"] == 0]
    info["layers_after"] = names
    pos = img.get_item_position(src)
    new = layers[pos - 1] if pos > 0 else None
    if new is None:
        info["new_layer"] = None
        return
    ok, nx, ny = new.get_offsets()
    ok, sx, sy = src.get_offsets()
    new_px = layer_bytes(new)
    src_px = layer_bytes(src)
    n = new.get_width() * new.get_height()
    changed = sum(1 for i in range(0, min(len(new_px), len(src_px)), 4)
                  if new_px[i:i + 3] != src_px[i:i + 3])
    d = {"name": new.get_name(), "id": new.get_id(), "size": [new.get_width(), new.get_height()],
         "offsets": [nx, ny], "source_size": [src.get_width(), src.get_height()],
         "source_offsets": [sx, sy], "changed_fraction": changed / max(1, n),
         "is_gray": new.is_gray(), "has_alpha": new.has_alpha(),
         "has_mask": new.get_mask() is not None, "parent_same": (new.get_parent() is None) == (src.get_parent() is None)}
    mean_abs = sum(abs(a - b) for a, b in zip(new_px[0::4], src_px[0::4])) / max(1, n)
    d["mean_abs_diff_red"] = mean_abs
    d["alpha_equal_source"] = new_px[3::4] == src_px[3::4]
    if region_mask is not None:
        new_mask = layer_bytes(new.get_mask(), "Y u8") if new.get_mask() else b""
        d["mask_equal_region"] = new_mask == region_mask
        outside_diff = 0
        inside_changed = 0
        inside = 0
        for i, m in enumerate(region_mask):
            a, b = new_px[4 * i:4 * i + 4], src_px[4 * i:4 * i + 4]
            if m == 0:
                outside_diff += a != b
            elif m == 255:
                inside += 1
                inside_changed += a[:3] != b[:3]
        d["outside_pixels_differing"] = outside_diff
        d["inside_changed_fraction"] = inside_changed / max(1, inside)
        d["region_pixels"] = inside
    info["new_layer"] = d
    after = {l["id"]: l for l in snapshot(img)}
    src_before = [l for l in before if l["id"] == src.get_id()][0]
    info["source_unchanged"] = after[src.get_id()]["pixels"] == src_before["pixels"] and \
        after[src.get_id()]["mask"] == src_before["mask"] and \
        after[src.get_id()]["offsets"] == src_before["offsets"]
    info["others_unchanged"] = all(after[l["id"]] == l for l in before)
    info["all_layers_after"] = [(l["name"], l["depth"]) for l in snapshot(img)]


def unchanged(img, before, info):
    after = snapshot(img)
    info["layers_after"] = [l["name"] for l in after]
    info["image_unchanged"] = after == before
    info["dirty"] = img.is_dirty()


# ----------------------------------------------------------------------------- cases

def case_photo():
    img, src = photo_image()
    before = snapshot(img)
    info = call(img, src, style_file=os.path.join(IMAGES, "starry_night.jpg"), **DEFAULTS)
    check_result(img, src, before, info)
    info["selection_empty_after"] = Gimp.Selection.is_empty(img)
    return info


def case_large_layer():
    """A layer larger than one engine tile (issue 14): the config makes the engine tile at 64 px,
    so a 200 x 150 layer is computed in 4 x 3 tiles, at the layer's own size; with a soft-edged
    layer mask crossing tile borders, pixels outside the region stay exactly the photo's."""
    img, src = photo_image(size=(200, 150), canvas=(220, 170))
    w, h = src.get_width(), src.get_height()
    mask = src.create_mask(Gimp.AddMaskType.WHITE)
    src.add_mask(mask)
    region = bytes((255 if x >= 90 else 128 if x >= 80 else 0) for y in range(h) for x in range(w))
    put(mask, "Y u8", region)
    img.clean_all()
    cfg = P["config"]
    original = open(cfg).read()
    with open(cfg, "w") as f:
        json.dump({**json.loads(original), "extra_args": ["--tile", "64"]}, f)
    try:
        before = snapshot(img)
        info = call(img, src, style_file=os.path.join(IMAGES, "starry_night.jpg"), **DEFAULTS)
        check_result(img, src, before, info, region)
    finally:
        with open(cfg, "w") as f:
            f.write(original)
    return info


def case_layer_mask():
    img, src = photo_image(offsets=(5, 12))
    w, h = src.get_width(), src.get_height()
    mask = src.create_mask(Gimp.AddMaskType.WHITE)
    src.add_mask(mask)
    # left 40 columns white (stylise), the rest black, plus a grey band
    data = bytearray(w * h)
    for y in range(h):
        for x in range(w):
            data[y * w + x] = 255 if x < 40 else (128 if x < 48 else 0)
    put(mask, "Y u8", bytes(data))
    region = layer_bytes(mask, "Y u8")
    img.clean_all()
    before = snapshot(img)
    # pass the mask itself as the drawable: right after "Add Layer Mask" GIMP has the mask
    # selected, and the plug-in must work on its layer
    info = call(img, mask, style_file=os.path.join(IMAGES, "shipwreck.jpg"), **DEFAULTS)
    check_result(img, src, before, info, region_mask=region)
    return info


def case_selection():
    img, src = photo_image(offsets=(10, 7))
    # selection in image coordinates, partly outside the layer (layer starts at x=10)
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 0, 20, 50, 30)
    ok, x, y = src.get_offsets()
    w, h = src.get_width(), src.get_height()
    region = rect_bytes(img.get_selection(), x, y, w, h, "Y u8")
    sel_before = digest(layer_bytes(img.get_selection(), "Y u8"))
    before = snapshot(img)
    info = call(img, src, style_file=os.path.join(IMAGES, "starry_night.jpg"), region="auto",
                **DEFAULTS)
    check_result(img, src, before, info, region_mask=region)
    info["expected_region_pixels"] = sum(1 for v in region if v == 255)
    info["selection_unchanged"] = digest(layer_bytes(img.get_selection(), "Y u8")) == sel_before
    return info


def case_grayscale():
    img, src = photo_image(name="woman-with-hat-matisse.jpg", size=(64, 80))
    img.convert_grayscale()
    img.clean_all()
    before = snapshot(img)
    info = call(img, src, style_file=os.path.join(IMAGES, "starry_night.jpg"), **DEFAULTS)
    check_result(img, src, before, info)
    info["image_gray"] = img.get_base_type() == Gimp.ImageBaseType.GRAY
    return info


def case_alpha():
    img, src = photo_image()
    img.convert_precision(Gimp.Precision.U16_LINEAR)   # and a high bit depth image
    src.add_alpha()
    w, h = src.get_width(), src.get_height()
    px = bytearray(layer_bytes(src))
    for y in range(h):
        for x in range(w):
            if x >= w - 30:                       # right stripe fully transparent
                px[4 * (y * w + x) + 3] = 0
            elif x >= w - 40:                     # half transparent band
                px[4 * (y * w + x) + 3] = 128
    put(src, "R'G'B'A u8", bytes(px))
    img.clean_all()
    before = snapshot(img)
    info = call(img, src, style_file=os.path.join(IMAGES, "starry_night.jpg"), **DEFAULTS)
    check_result(img, src, before, info)
    info["source_has_alpha"] = src.has_alpha()
    info["precision"] = img.get_precision().value_nick
    return info


def case_style_layer():
    img, src = photo_image()
    style_img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE,
                               Gio.File.new_for_path(os.path.join(IMAGES, "woman-with-hat-matisse.jpg")))
    style_img.scale(80, 100)
    style_layer = style_img.get_layers()[0]
    style_layer.set_name("matisse layer")
    style_before = digest(layer_bytes(style_layer))
    before = snapshot(img)
    info = call(img, src, style_layer=style_layer, **DEFAULTS)
    check_result(img, src, before, info)
    info["style_layer_name"] = style_layer.get_name()
    info["style_layer_unchanged"] = digest(layer_bytes(style_layer)) == style_before
    info["style_image_layers"] = len(style_img.get_layers())
    style_img.delete()
    return info


def case_engine_failure():
    img, src = photo_image()
    bad = os.path.join(P["work"], "broken-style.jpg")
    with open(bad, "wb") as f:
        f.write(b"this is not a JPEG at all\n" * 10)
    os.chmod(bad, 0o644)
    before = snapshot(img)
    info = call(img, src, style_file=bad, **DEFAULTS)
    unchanged(img, before, info)
    return info


def case_missing_config():
    img, src = photo_image()
    cfg = P["config"]
    moved = cfg + ".away"
    os.replace(cfg, moved)
    try:
        before = snapshot(img)
        info = call(img, src, style_file=os.path.join(IMAGES, "starry_night.jpg"), **DEFAULTS)
        unchanged(img, before, info)
    finally:
        os.replace(moved, cfg)
    return info


def case_empty_selection_forced():
    img, src = photo_image()
    before = snapshot(img)
    info = call(img, src, style_file=os.path.join(IMAGES, "starry_night.jpg"), region="selection",
                **DEFAULTS)
    unchanged(img, before, info)
    return info


def case_indexed():
    img, src = photo_image()
    args = (Gimp.ConvertDitherType.NONE, Gimp.ConvertPaletteType.GENERATE, 16, False, False)
    try:
        img.convert_indexed(*args, "")                          # 3.0: palette name
    except TypeError:
        img.convert_indexed(*args, Gimp.context_get_palette())  # later: a Gimp.Palette
    img.clean_all()
    before = snapshot(img)
    info = call(img, src, style_file=os.path.join(IMAGES, "starry_night.jpg"), **DEFAULTS)
    unchanged(img, before, info)
    return info


def case_two_layers():
    img, src = photo_image()
    before = snapshot(img)
    proc = Gimp.get_pdb().lookup_procedure(PROC)
    config = proc.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", img)
    config.set_core_object_array("drawables", img.get_layers()[:2])
    config.set_property("style-file", Gio.File.new_for_path(os.path.join(IMAGES, "starry_night.jpg")))
    result = proc.run(config)
    info = {"status": result.index(0).value_nick,
            "message": result.index(1) if result.length() > 1 else None}
    unchanged(img, before, info)
    return info


def case_registration():
    proc = Gimp.get_pdb().lookup_procedure(PROC)
    return {"arguments": [a.name for a in proc.get_arguments()],
            "return_values": [a.name for a in proc.get_return_values()],
            "menu_label": proc.get_menu_label(), "menu_paths": list(proc.get_menu_paths()),
            "image_types": proc.get_image_types()}


def case_cancel():
    """The host-side test kills the plug-in process (what GIMP's Cancel does) once the engine
    runs; here we record what GIMP and the image look like afterwards."""
    img, src = photo_image()
    before = snapshot(img)
    args = dict(DEFAULTS)
    args.update(seed=P.get("cancel_seed", 4242), iterations=P.get("cancel_iterations", 10000),
                preset="balanced")
    info = call(img, src, style_file=os.path.join(IMAGES, "starry_night.jpg"), **args)
    unchanged(img, before, info)
    return info


def case_after_cancel():
    """A normal run after the killed one: it must succeed (and clean up the stale folder)."""
    img, src = photo_image(size=(64, 48))
    # the source sits inside a layer group, under another layer: the new layer must go
    # into the same group, directly above it
    group = Gimp.GroupLayer.new(img, "group") if hasattr(Gimp, "GroupLayer") else \
        Gimp.Layer.group_new(img)
    group.set_name("group")
    img.insert_layer(group, None, 0)
    img.reorder_item(src, group, 0)
    above = Gimp.Layer.new(img, "in group above", 10, 10, Gimp.ImageType.RGBA_IMAGE, 100.0,
                           Gimp.LayerMode.NORMAL)
    img.insert_layer(above, group, 0)
    img.clean_all()
    before = snapshot(img)
    info = {"siblings_before": [l.get_name() for l in group.get_children()]}
    info.update(call(img, src, style_file=os.path.join(IMAGES, "starry_night.jpg"), **DEFAULTS))
    check_result(img, src, before, info)
    info["group_children_after"] = [l.get_name() for l in group.get_children()]
    return info


# ----------------------------------------------------------------------------- visualize
# plug-in-neural-style-visualize (tests/gimp/test_gimp_visualize.py runs these in their own
# GIMP session, which starts with no image open).

VIS_PROC = "plug-in-neural-style-visualize"
VIS_DEFAULTS = dict(layers="relu1_1, relu2_1", units=2, top=2, size=64, cell=32)


def vis_call(**args):
    images_before = [im.get_id() for im in Gimp.get_images()]
    info, result = run_procedure(VIS_PROC, args, ("folder",))
    if result.length() > 1:
        v = result.index(1)
        if isinstance(v, Gimp.Image):
            info["returned_image"] = v.get_id()
            new = v
            layers = new.get_layers()
            info["new_image"] = {
                "size": [new.get_width(), new.get_height()], "layers": len(layers),
                "layer_name": layers[0].get_name() if layers else None,
                "layer_size": [layers[0].get_width(), layers[0].get_height()] if layers else None,
                "rgb": new.get_base_type() == Gimp.ImageBaseType.RGB,
                "dirty": new.is_dirty(), "file": new.get_file().get_path() if new.get_file() else None,
                "corner_pixel": list(rect_bytes(layers[0], 0, 0, 1, 1, "R'G'B' u8")) if layers else None}
        if result.length() > 2 and isinstance(result.index(2), str) and result.index(2):
            index = json.loads(result.index(2))
            info["index"] = {
                "picture_size": index["picture_size"], "gradients": index["gradients"],
                "scan_size": index["scan_size"], "cell": index["cell"],
                "images": [{"path": im["path"], "original_size": im["original_size"]}
                           for im in index["images"]],
                "skipped": index["skipped"], "layers": [l["layer"] for l in index["layers"]],
                "units": [len(l["units"]) for l in index["layers"]],
                "patches_per_unit": [[len(u["patches"]) for u in l["units"]] for l in index["layers"]],
                "gradient_cells": sum(1 for l in index["layers"] for u in l["units"]
                                      for pt in u["patches"] if "gradient_cell" in pt)}
    info["images_added"] = [i for i in (im.get_id() for im in Gimp.get_images())
                            if i not in images_before]
    info["images_removed"] = [i for i in images_before
                              if i not in [im.get_id() for im in Gimp.get_images()]]
    return info


def open_state():
    """What the open images look like: layers and pixels, dirty flag, file."""
    return {str(im.get_id()): {"layers": snapshot(im), "dirty": im.is_dirty(),
                               "size": [im.get_width(), im.get_height()],
                               "file": im.get_file().get_path() if im.get_file() else None,
                               "base": int(im.get_base_type()),
                               "precision": im.get_precision().value_nick}
            for im in Gimp.get_images()}


def case_vis_registration():
    proc = Gimp.get_pdb().lookup_procedure(VIS_PROC)
    return {"arguments": [a.name for a in proc.get_arguments()],
            "return_values": [a.name for a in proc.get_return_values()],
            "menu_label": proc.get_menu_label(), "menu_paths": list(proc.get_menu_paths()),
            "image_types": proc.get_image_types(), "is_image_procedure":
                isinstance(proc, Gimp.ImageProcedure),
            "images_open": len(Gimp.get_images())}


def case_vis_no_images():
    info = {"images_open_before": len(Gimp.get_images())}
    info.update(vis_call(**VIS_DEFAULTS))
    return info


def case_vis_open_images():
    """Two open images of different kinds, exported flattened by GIMP and visualized."""
    img1, src = photo_image()                                   # RGB, 3 layers, offsets
    img2 = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE,
                          Gio.File.new_for_path(os.path.join(IMAGES, "woman-with-hat-matisse.jpg")))
    img2.scale(80, 100)
    img2.convert_grayscale()
    img2.convert_precision(Gimp.Precision.U16_LINEAR)
    img2.get_layers()[0].add_alpha()
    # Gimp.file_load (the PDB) leaves an image without a file, unlike File > Open: give it one,
    # as a saved XCF has, so the export's name can be checked
    img2.set_file(Gio.File.new_for_path(os.path.join(P["work"], "matisse-gray.xcf")))
    img2.clean_all()
    before = open_state()
    info = vis_call(**VIS_DEFAULTS)
    after = open_state()
    for new_id in info["images_added"]:
        after.pop(str(new_id), None)
    info["open_images_unchanged"] = after == before
    info["open_image_sizes"] = sorted(v["size"] for v in before.values())
    info["open_image_names"] = [im.get_name() for im in (img1, img2)]
    info["open_image_files"] = [im.get_file().get_path() if im.get_file() else None
                                for im in (img1, img2)]
    return info


def case_vis_hidden_layers():
    """An open image whose only layer is hidden cannot be flattened: a clear error, nothing
    changed (the image is closed again afterwards)."""
    img = Gimp.Image.new(64, 48, Gimp.ImageBaseType.RGB)
    layer = Gimp.Layer.new(img, "hidden", 64, 48, Gimp.ImageType.RGB_IMAGE, 100.0,
                           Gimp.LayerMode.NORMAL)
    img.insert_layer(layer, None, 0)
    layer.set_visible(False)
    img.set_file(Gio.File.new_for_path(os.path.join(P["work"], "all-hidden.xcf")))
    img.clean_all()
    try:
        info = _vis_error(None)
    finally:
        img.delete()
    return info


def case_vis_folder():
    before = open_state()
    info = vis_call(folder=IMAGES, gradients=True, **VIS_DEFAULTS)
    after = open_state()
    for new_id in info["images_added"]:
        after.pop(str(new_id), None)
    info["open_images_unchanged"] = after == before
    info["folder_images"] = sorted(os.path.join(IMAGES, n) for n in os.listdir(IMAGES)
                                   if n.lower().endswith((".jpg", ".png")))
    return info


def _vis_error(folder=None, **over):
    before = open_state()
    args = dict(VIS_DEFAULTS)
    args.update(over)
    info = vis_call(folder=folder, **args)
    info["open_images_unchanged"] = open_state() == before
    return info


def case_vis_empty_folder():
    folder = os.path.join(P["work"], "empty-folder")
    os.makedirs(folder, exist_ok=True)
    info = _vis_error(folder)
    info["folder"] = folder
    return info


def case_vis_not_images():
    folder = os.path.join(P["work"], "not-images")
    os.makedirs(folder, exist_ok=True)
    for name in ("broken.jpg", "broken.png"):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(b"not an image\n" * 20)
    with open(os.path.join(folder, "notes.txt"), "w") as f:
        f.write("hello\n")
    info = _vis_error(folder)
    info["folder"] = folder
    return info


def case_vis_missing_folder():
    return _vis_error(os.path.join(P["work"], "no-such-folder"))


def case_vis_bad_layer():
    return _vis_error(IMAGES, layers="relu1_1,relu9_9")


def case_vis_cancel():
    """The host kills the plug-in while the engine runs (tests/gimp/test_gimp_visualize.py):
    a long job (deep layers with gradients) marked by --units 7."""
    before = open_state()
    info = vis_call(folder=IMAGES, layers="", units=7, top=9, size=256, cell=64, gradients=True)
    info["open_images_unchanged"] = open_state() == before
    return info


def special_layer(img, kind):
    """A text, vector or link layer (GIMP 3.2 added the last two) over the photo, or None when
    this GIMP has no such layer type."""
    if kind == "text":
        layer = Gimp.TextLayer.new(img, "Neural", Gimp.context_get_font(), 40.0, Gimp.Unit.pixel())
    elif kind == "vector":
        if not hasattr(Gimp, "VectorLayer"):
            return None
        path = Gimp.Path.new(img, "ellipse")
        img.insert_path(path, None, 0)
        path.bezier_stroke_new_ellipse(60, 45, 40, 28, 0)
        layer = Gimp.VectorLayer.new(img, path)
        layer.set_enable_fill(True)
    else:
        if not hasattr(Gimp, "LinkLayer"):
            return None
        layer = Gimp.LinkLayer.new(img, Gio.File.new_for_path(os.path.join(IMAGES, "shipwreck.jpg")))
    img.insert_layer(layer, None, 1)          # below "top", above "photo"
    layer.set_name(f"{kind} layer")
    return layer


def layer_kind(layer):
    """What a layer is, beyond its pixels: its class and, for text/vector/link layers, whether
    it was rasterized (3.2's Gimp.Rasterizable) and its text."""
    d = {"class": type(layer).__name__}
    if hasattr(layer, "is_rasterized"):
        d["rasterized"] = layer.is_rasterized()
    if isinstance(layer, Gimp.TextLayer):
        d["text"] = layer.get_text()
    return d


def special_case(kind):
    img, _ = photo_image()
    src = special_layer(img, kind)
    if src is None:
        return {"unsupported": f"GIMP {Gimp.version()} has no {kind} layers"}
    img.clean_all()
    kind_before, before = layer_kind(src), snapshot(img)
    info = call(img, src, style_file=os.path.join(IMAGES, "starry_night.jpg"), **DEFAULTS)
    check_result(img, src, before, info)
    info.update(source_name=src.get_name(), kind_before=kind_before, kind_after=layer_kind(src),
                opaque_pixels=sum(1 for a in layer_bytes(src)[3::4] if a))
    new = info.get("new_layer")
    if new is not None:
        info["new_kind"] = layer_kind(Gimp.Layer.get_by_id(new["id"]))
    return info


def case_text_layer():
    return special_case("text")


def case_vector_layer():
    return special_case("vector")


def case_link_layer():
    return special_case("link")


CASES = {name[5:]: fn for name, fn in list(globals().items()) if name.startswith("case_")}

try:
    Gegl.init(None)
    for name in P["cases"]:
        t = time.time()
        try:
            info = CASES[name]()
        except Exception:
            info = {"exception": traceback.format_exc()}
        info["case_seconds"] = round(time.time() - t, 2)
        RESULTS["cases"][name] = info
        save()
    tmp = P.get("plugin_tmp")
    if tmp:
        RESULTS["plugin_tmp_left"] = sorted(n for n in os.listdir(tmp) if n.startswith("nst-gimp-"))
    RESULTS["finished"] = True
except Exception:
    RESULTS["fatal"] = traceback.format_exc()
save()
