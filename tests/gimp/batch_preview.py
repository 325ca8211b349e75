# Executed INSIDE gimp-console-3.0 with a DISPLAY (Xvfb) by tests/gimp/test_gimp_preview.py.
# Opens the Neural Style Transfer dialog twice (INTERACTIVE) on a 320x240 photo with a style
# chosen, so its preview starts at once; the test watches the preview, changes the strength,
# and presses Escape (Cancel) the first time, Return (OK) the second. Findings go to
# params["out"] after each case.
import json
import os
import traceback

import gi
gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio  # noqa: E402

from gimp_calls import run_procedure, save_results  # noqa: E402

P = json.load(open(NST_PARAMS))  # noqa: F821
RESULTS = {"cases": {}}


def save():
    save_results(RESULTS, P["out"])


def case(name):
    img = Gimp.Image.new(320, 240, Gimp.ImageBaseType.RGB)
    layer = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, img,
                                 Gio.File.new_for_path(os.path.join(P["images"], "tubingen.jpg")))
    img.insert_layer(layer, None, 0)
    layer.scale(320, 240, False)
    before = [l.get_name() for l in img.get_layers()]
    info, _ = run_procedure(
        "plug-in-neural-style-transfer",
        {"style-file": os.path.join(P["images"], "starry_night.jpg"), "preset": "draft",
         "iterations": 2, "strength": P["strength"]},
        ("style-file",), img, [layer], Gimp.RunMode.INTERACTIVE)
    info.update(layers_before=before, layers_after=[l.get_name() for l in img.get_layers()])
    img.delete()
    return info


for name in ("cancel", "ok"):
    try:
        RESULTS["cases"][name] = case(name)
    except Exception:
        RESULTS["cases"][name] = {"exception": traceback.format_exc()}
    save()
RESULTS["finished"] = True
save()
