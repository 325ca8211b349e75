# Executed INSIDE the full GIMP 3 GUI (gimp-3.0 on Xvfb) by tests/gimp/test_gimp_undo.py.
# Runs the plug-in on a displayed image, then waits while the test presses Ctrl+Z once in
# GIMP's window, and records the layers before, after the plug-in and after that one undo.
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

P = json.load(open(NST_PARAMS))  # noqa: F821
R = {}


def save():
    save_results(R, P["out"])


def state(img):
    out = []
    for l in img.get_layers():
        px = bytes(l.get_buffer().get(Gegl.Rectangle.new(0, 0, l.get_width(), l.get_height()),
                                      1.0, "R'G'B'A u8", Gegl.AbyssPolicy.NONE))
        m = l.get_mask()
        out.append([l.get_name(), hashlib.sha1(px).hexdigest(), m is not None])
    return out


try:
    Gegl.init(None)
    img = Gimp.Image.new(120, 90, Gimp.ImageBaseType.RGB)
    bg = Gimp.Layer.new(img, "background", 120, 90, Gimp.ImageType.RGB_IMAGE, 100.0,
                        Gimp.LayerMode.NORMAL)
    img.insert_layer(bg, None, 0)
    bg.fill(Gimp.FillType.WHITE)
    src = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, img,
                               Gio.File.new_for_path(os.path.join(P["images"], "tubingen.jpg")))
    img.insert_layer(src, None, 0)
    src.set_name("photo")
    src.scale(96, 64, False)
    src.set_offsets(10, 7)
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 0, 20, 50, 30)   # -> a masked new layer
    img.clean_all()
    Gimp.Display.new(img)
    Gimp.displays_flush()
    R["before"] = state(img)
    R["status"] = run_procedure(
        "plug-in-neural-style-transfer",
        {"style-file": os.path.join(P["images"], "starry_night.jpg"), "preset": "draft",
         "iterations": P.get("iterations", 3)},
        ("style-file",), img, [src])[0]["status"]
    Gimp.displays_flush()
    R["after_plugin"] = state(img)
    save()
    with open(P["ready"], "w") as f:
        f.write("ready")
    t = time.time()
    while not os.path.exists(P["undone"]) and time.time() - t < 120:
        time.sleep(0.2)
    R["undo_pressed"] = os.path.exists(P["undone"])
    R["after_one_undo"] = state(img)
    R["selection_after_undo_empty"] = Gimp.Selection.is_empty(img)
except Exception:
    R["exception"] = traceback.format_exc()
R["finished"] = True
save()
