"""What the GIMP batch scripts (batch_*.py, run inside GIMP) share: calling the plug-in's
procedures and saving their findings; harness.Workspace.batch_args puts this folder on their
sys.path."""
import json
import os
import time

import gi
gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio  # noqa: E402


def run_procedure(name, args, file_keys=(), image=None, drawables=None,
                  run_mode=Gimp.RunMode.NONINTERACTIVE):
    """Run plug-in procedure ``name`` with ``args`` (``file_keys`` given as paths become GFiles).

    Returns ({status, seconds, message?}, the procedure's return values)."""
    proc = Gimp.get_pdb().lookup_procedure(name)
    if proc is None:
        raise RuntimeError(f"procedure {name} is not registered (plug-in not found by GIMP)")
    config = proc.create_config()
    config.set_property("run-mode", run_mode)
    if image is not None:
        config.set_property("image", image)
        config.set_core_object_array("drawables", drawables)
    for key, value in args.items():
        key = key.replace("_", "-")
        if key in file_keys and value is not None:
            value = Gio.File.new_for_path(value)
        config.set_property(key, value)
    t = time.time()
    result = proc.run(config)
    # 3.0 reads the status back as the enum, 3.2 as its int (3 = success): the enum from both
    status = Gimp.PDBStatusType(result.index(0))
    info = {"status": status.value_nick,
            "seconds": round(time.time() - t, 2)}
    value = result.index(1) if result.length() > 1 else None
    if isinstance(value, str):
        info["message"] = value
    return info, result


def save_results(results: dict, path: str) -> None:
    """Write the findings for the pytest side, atomically: a batch script saves after every case,
    so what GIMP had done survives a crash or a timeout later in the session."""
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=1)
    os.replace(path + ".tmp", path)
