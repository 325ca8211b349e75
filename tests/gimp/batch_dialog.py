# Executed INSIDE gimp-console-3.0 with a DISPLAY (Xvfb) by tests/gimp/test_gimp_dialog.py.
# Calls the procedure in INTERACTIVE mode twice: the test presses Return in the first dialog
# (OK) and Escape in the second (Cancel); then Visualize Network Units once (Return: OK). Findings go to params["out"] after each case.
import json
import os
import time
import traceback

import gi
gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio  # noqa: E402

from gimp_calls import run_procedure, save_results  # noqa: E402

P = json.load(open(NST_PARAMS))  # noqa: F821
RESULTS = {"cases": {}}


def save():
    save_results(RESULTS, P["out"])


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
    info, _ = run_procedure(
        "plug-in-neural-style-transfer",
        {"style-file": os.path.join(P["images"], "starry_night.jpg"), "preset": "draft",
         "iterations": P.get("iterations", 3)},
        ("style-file",), img, [layer], Gimp.RunMode.INTERACTIVE)
    info.update(layers_before=before, layers_after=[l.get_name() for l in img.get_layers()])
    img.delete()
    return info


def visualize_interactive(name):
    """Visualize Network Units in INTERACTIVE mode (the test presses Return: OK), tiny settings."""
    images_before = [im.get_id() for im in Gimp.get_images()]
    info, r = run_procedure(
        "plug-in-neural-style-visualize",
        {"folder": P["images"], "layers": "relu1_1,relu2_1", "units": 2, "top": 2, "size": 64, "cell": 32},
        ("folder",), run_mode=Gimp.RunMode.INTERACTIVE)
    info["images_added"] = [im.get_id() for im in Gimp.get_images() if im.get_id() not in images_before]
    v = r.index(1) if r.length() > 1 else None
    if isinstance(v, Gimp.Image):
        info["returned_image"] = v.get_id()
        info["size"] = [v.get_width(), v.get_height()]
    if r.length() > 2 and isinstance(r.index(2), str) and r.index(2):
        info["picture_size"] = json.loads(r.index(2))["picture_size"]
    return info


def _children():
    """(pid, state, argv) of every process this GIMP started (this batch interpreter is a
    plug-in process of the same GIMP, so they share its parent)."""
    out, gimp = [], str(os.getppid())
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
        except OSError:
            continue
        if ppid == gimp:
            out.append((int(pid), state, argv))
    return out


def plugin_processes():
    """Pids of our plug-in's processes still alive, started by this GIMP (one per call)."""
    return [pid for pid, state, argv in _children()
            if state != "Z" and any(a.endswith(b"neural-style-transfer.py") for a in argv)]


def unreaped():
    """Pids of this GIMP's children that have exited but that GIMP has not reaped yet. GIMP 3.2
    names any it still counts as running when it quits ("Zombie plug-in: ... never exited")."""
    return [pid for pid, state, _argv in _children() if state == "Z"]


def wait_for_exit(limit_s=30.0, left=plugin_processes):
    """Seconds until ``left()`` is empty: by default until no plug-in process is left after its
    run returned (None: some still there after ``limit_s``; GIMP 3.2 reports those as zombie
    plug-ins when it quits)."""
    t = time.time()
    while left():
        if time.time() - t > limit_s:
            return None
        time.sleep(0.02)
    return round(time.time() - t, 2)


for case, fn in (("ok", interactive), ("cancel", interactive), ("vis_ok", visualize_interactive)):
    try:
        RESULTS["cases"][case] = fn(case)
        RESULTS["cases"][case]["exit_seconds"] = wait_for_exit()
    except Exception:
        RESULTS["cases"][case] = {"exception": traceback.format_exc()}
    save()
# The batch ends, and GIMP quits, only once GIMP has reaped the processes that exited: on a
# loaded machine its main loop can be that late, and GIMP 3.2 would then name a process that has
# long left as never exited (seen once with both cores busy).
RESULTS["reaped_seconds"] = wait_for_exit(left=unreaped)
RESULTS["finished"] = True
save()
