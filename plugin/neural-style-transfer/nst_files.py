"""Names and checks of the files the plug-in hands to the engine and takes back from it.

The style file the engine can read as it is, the new layer's name, the folder and the exported
open images of ``visualize`` (numbered so the engine's sort keeps GIMP's order), its JSON index.
"""
from __future__ import annotations

import json
import os
import re
from typing import List, Sequence

from nst_errors import VISUALIZE_TASK, EngineError, NstError


STYLE_SOURCES = ("auto", "file", "layer")  # the dialog's choices; the first is its default
# The dialog's words for each: (label, what it means, for the help; "" = the name says it).
STYLE_SOURCE_WORDS = dict(zip(STYLE_SOURCES, (
    ("Automatic (layer if chosen, else file)", "the style layer when one is set, else the file"),
    ("Style image file", ""), ("Layer of an open image", ""))))
# Extensions the engine reads directly (Pillow); other style files are converted by GIMP.
ENGINE_READABLE = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm")


def style_layer_name(style: str, is_file: bool = True) -> str:
    """The new layer's name, after the style: "Style: starry_night"."""
    base = os.path.splitext(os.path.basename(style))[0] if is_file else style
    base = base.strip() or "style"
    return f"Style: {base}"


def check_folder(path: str) -> str:
    """The images folder the user chose, or NstError saying what is wrong with it."""
    if not os.path.exists(path):
        raise NstError(f"The folder {path} does not exist: choose a folder of images.")
    if not os.path.isdir(path):
        raise NstError(f"{path} is not a folder: choose a folder of images (or none, for the "
                       "images open in GIMP).")
    return path


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def export_file_names(names: Sequence[str], max_len: int = 60) -> List[str]:
    """PNG file names for open images exported for ``visualize``: numbered in GIMP's order
    (the engine sorts a folder by name), readable, unique, safe on every file system:
    ["Tübingen photo.jpg", "[Untitled]"] -> ["01-T_bingen_photo.png", "02-Untitled.png"]."""
    width = max(2, len(str(len(names))))
    out = []
    for i, name in enumerate(names, 1):
        base = os.path.splitext(os.path.basename(name or ""))[0]
        safe = _UNSAFE.sub("_", base).strip("._-")[:max_len] or "image"
        out.append(f"{i:0{width}d}-{safe}.png")
    return out


def read_index(path: str) -> dict:
    """The ``visualize`` JSON index (docs/visualize.md), checked enough to use its layout."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError, RecursionError) as e:
        raise EngineError("internal", f"the engine's JSON index {path} cannot be read ({e})",
                          task=VISUALIZE_TASK)
    size = index.get("picture_size") if isinstance(index, dict) else None
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0
                                                               for v in size)):
        raise EngineError("internal", f"the engine's JSON index {path} has no valid \"picture_size\"",
                          task=VISUALIZE_TASK)
    return index
