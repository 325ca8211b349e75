# Executed INSIDE gimp-console-3.0 with a DISPLAY (Xvfb) by tests/plugin/test_gimp_dialog.py.
# Calls the procedure in INTERACTIVE mode twice: the test presses Return in the first dialog
# (OK) and Escape in the second (Cancel). Findings go to params["out"] after each case.
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


for case in ("ok", "cancel"):
    try:
        RESULTS["cases"][case] = interactive(case)
    except Exception:
        RESULTS["cases"][case] = {"exception": traceback.format_exc()}
    save()
RESULTS["finished"] = True
save()
