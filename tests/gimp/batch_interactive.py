# Executed INSIDE gimp-console-3.0 with a DISPLAY (Xvfb) by tests/plugin/test_gimp_dialog.py.
# Calls the procedure in INTERACTIVE mode twice: the test presses Return in the first dialog
# (OK) and Escape in the second (Cancel); then Visualize Network Units once (Return: OK). Findings go to params["out"] after each case.
import json
import os
import traceback

import gi
gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio  # noqa: E402

P = json.load(open(NST_PARAMS))  # noqa: F821
RESULTS = {"cases": {}}


def save():
    with open(P["out"] + ".tmp", "w") as f:
        json.dump(RESULTS, f, indent=1)
    os.replace(P["out"] + ".tmp", P["out"])


def image():
    img = Gimp.Image.new(96, 64, Gimp.ImageBaseType.RGB)
    layer = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, img,
                                 Gio.File.new_for_path(os.path.join(P["images"], "tubingen.jpg")))
    img.insert_layer(layer, None, 0)
    layer.scale(96, 64, False)
    return img, layer


def interactive(name):
    img, layer = image()
    before = [l.get_name() for l in img.get_layers()]
    proc = Gimp.get_pdb().lookup_procedure("plug-in-neural-style-transfer")
    c = proc.create_config()
    c.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    c.set_property("image", img)
    c.set_core_object_array("drawables", [layer])
    c.set_property("style-file", Gio.File.new_for_path(os.path.join(P["images"], "starry_night.jpg")))
    c.set_property("preset", "draft")
    c.set_property("iterations", P.get("iterations", 3))
    r = proc.run(c)
    info = {"status": r.index(0).value_nick, "layers_before": before,
            "layers_after": [l.get_name() for l in img.get_layers()]}
    if r.length() > 1 and isinstance(r.index(1), str):
        info["message"] = r.index(1)
    img.delete()
    return info


def visualize_interactive(name):
    """Visualize Network Units in INTERACTIVE mode (the test presses Return: OK), tiny settings."""
    images_before = [im.get_id() for im in Gimp.get_images()]
    proc = Gimp.get_pdb().lookup_procedure("plug-in-neural-style-visualize")
    c = proc.create_config()
    c.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    c.set_property("folder", Gio.File.new_for_path(P["images"]))
    for key, value in (("layers", "relu1_1,relu2_1"), ("units", 2), ("top", 2), ("size", 64),
                       ("cell", 32)):
        c.set_property(key, value)
    r = proc.run(c)
    info = {"status": r.index(0).value_nick,
            "images_added": [im.get_id() for im in Gimp.get_images()
                             if im.get_id() not in images_before]}
    if r.length() > 1:
        v = r.index(1)
        if isinstance(v, str):
            info["message"] = v
        elif isinstance(v, Gimp.Image):
            info["returned_image"] = v.get_id()
            info["size"] = [v.get_width(), v.get_height()]
    if r.length() > 2 and isinstance(r.index(2), str) and r.index(2):
        info["picture_size"] = json.loads(r.index(2))["picture_size"]
    return info


for case, fn in (("ok", interactive), ("cancel", interactive), ("vis_ok", visualize_interactive)):
    try:
        RESULTS["cases"][case] = fn(case)
    except Exception:
        RESULTS["cases"][case] = {"exception": traceback.format_exc()}
    save()
RESULTS["finished"] = True
save()
