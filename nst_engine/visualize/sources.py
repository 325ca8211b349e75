"""The images a visualize run scans: files and folders collected, decoded and sized for the scan.

A path that does not exist is an error (a typo should not silently shrink the set); a file
that cannot be decoded, or is too small, is skipped and reported, because one odd file in
a folder of photos should not stop the run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from nst_contract.events import EngineError, bad_input
from nst_contract.options import MIN_SIDE, fit_longest

from ..services import images


@dataclass
class Source:
    path: str
    original_size: tuple
    rgb: Image.Image  # at the scan size


def _image_files(folder: Path) -> list:
    exts = Image.registered_extensions()
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in exts)


def _candidates(item, numbered: int, looked: list) -> list:
    """[(file path or PIL image, name)] for one input; ``looked`` gets what was looked at."""
    if isinstance(item, Image.Image):
        return [(item, f"<image {numbered}>")]
    path = Path(item).expanduser()
    if not path.exists():
        raise bad_input(f"input {str(path)!r} does not exist: check the path")
    if path.is_dir():
        files = _image_files(path)
        looked.append(f"{str(path)!r} ({len(files)} image file(s))")
        return [(f, str(f)) for f in files]
    looked.append(repr(str(path)))
    return [(path, str(path))]


def _load(obj, name: str, size: int) -> tuple:
    """(Source, None), or (None, the reason it is skipped)."""
    try:
        img = images.open_image(obj, "image")
    except EngineError as exc:
        return None, exc.message
    rgb = images.split(img).rgb
    w, h = rgb.size
    if max(w, h) > size:
        w, h = fit_longest(w, h, size)
    if min(w, h) < MIN_SIDE:
        return None, (f"too small: {rgb.width}x{rgb.height} is seen at {w}x{h}, "
                      f"under {MIN_SIDE} px on the shorter side")
    return Source(name, rgb.size, images.resize(rgb, (w, h))), None


def collect(inputs, size: int) -> tuple[list, list]:
    """The images to scan, at their scan size, and the ones skipped with the reason.

    An empty result is an error that says what was looked at and why each file was left out.
    """
    if not inputs:
        raise bad_input("no input given: name image files and/or folders of images")
    sources, skipped, seen, looked = [], [], set(), []
    for item in inputs:
        for obj, name in _candidates(item, len(sources) + len(skipped), looked):
            if not isinstance(obj, Image.Image):
                key = os.path.realpath(obj)
                if key in seen:
                    continue
                seen.add(key)
            source, reason = _load(obj, name, size)
            if source is None:
                skipped.append({"path": name, "reason": reason})
            else:
                sources.append(source)
    if not sources:
        why = "".join(f"\n  {s['path']}: {s['reason']}" for s in skipped)
        raise bad_input(f"no usable images found in {', '.join(looked) or 'the inputs'}"
                        + (f"; skipped:{why}" if why else "; give image files or folders that hold some"))
    return sources, skipped
