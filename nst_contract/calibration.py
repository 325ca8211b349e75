"""The engine's calibration cache (``calibration.json``): where it is, and the one reader and writer.

The engine (nst_engine/numerics.py) times the network on this machine once and caches the result
per (device, torch, network, threads); the plug-in shows the cached time estimates in its dialog.
The file is only a cache, and anything may be in it (a hand edit, a half-written disk, another
version's shapes), so the reader returns only the entries that validate — finite numbers where
numbers belong, the expected shapes — and never raises. The engine measures again what is not
returned; the plug-in falls back to its typical times.

An entry (a dict, as the engine writes it):

- ``table``: one row per candidate, ``{"precision", "layout", "seconds", "note"}``; ``seconds``
  is a finite positive number, or None (not timed);
- ``size``: ``[w, h]`` of the timed image; ``choice``: ``[precision, layout]``;
- ``model``, ``device``, ``measured_at``: strings;
- ``estimates`` (optional): ``{quality: {longest side (a decimal string): seconds ≥ 0}}``;
- ``size_limit`` (optional): the longest side the engine computes, a positive integer.
"""
from __future__ import annotations

import json
import math
import os
import platform
import re
import tempfile
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from .options import LAYOUTS, PRECISIONS

CACHE_ENV = "NST_CACHE_DIR"  # overrides the cache folder (tests isolate themselves with it)
CACHE_FILE = "calibration.json"
# The cache holds a few entries of a few KB; a larger file is not one the engine wrote.
MAX_FILE_BYTES = 4 << 20
# No estimate or measured pass is longer than this (about 116 days): a larger figure is damage.
MAX_SECONDS = 1e7
_SIDE = re.compile(r"[1-9][0-9]{0,5}")


def cache_dir(environ: Optional[Mapping[str, str]] = None) -> Path:
    """``$NST_CACHE_DIR``, else the platform's user cache folder + gimp-neural-style."""
    environ = os.environ if environ is None else environ
    if environ.get(CACHE_ENV):
        return Path(environ[CACHE_ENV])
    if os.name == "nt" and environ.get("LOCALAPPDATA"):
        base = Path(environ["LOCALAPPDATA"])
    elif platform.system() == "Darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "gimp-neural-style"


def cache_path(environ: Optional[Mapping[str, str]] = None) -> Path:
    return cache_dir(environ) / CACHE_FILE


def read_entries(path: Path) -> Dict[str, dict]:
    """The cached entries that validate, by key; {} when the file is missing, unreadable, too
    large or not JSON. Never raises (deeply nested JSON included)."""
    try:
        path = Path(path)
        if path.stat().st_size > MAX_FILE_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        return {}
    return {k: e for k, e in entries.items() if isinstance(k, str) and valid_entry(e)}


def write_entry(path: Path, key: str, entry: dict) -> None:
    """Add (or replace) one entry, keeping the other valid ones, atomically; a cache that cannot
    be written is skipped (the next run measures again)."""
    path = Path(path)
    entries = read_entries(path)
    entries[key] = entry
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".calibration-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"entries": entries}, fh, indent=1, allow_nan=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except (OSError, ValueError):
        pass


def valid_entry(entry: Any) -> bool:
    """Whether ``entry`` has the shape above (what either side may then read without checks)."""
    if not isinstance(entry, dict):
        return False
    table, size, choice = entry.get("table"), entry.get("size"), entry.get("choice")
    return (isinstance(table, list) and bool(table) and all(_valid_row(r) for r in table)
            and isinstance(size, list) and len(size) == 2 and all(_positive_int(v) for v in size)
            and isinstance(choice, list) and len(choice) == 2
            and choice[0] in PRECISIONS and choice[1] in LAYOUTS
            and all(isinstance(entry.get(k), str) for k in ("model", "device", "measured_at"))
            and ("estimates" not in entry or _valid_estimates(entry["estimates"]))
            and ("size_limit" not in entry or _positive_int(entry["size_limit"])))


def _valid_row(row: Any) -> bool:
    return (isinstance(row, dict) and row.get("precision") in PRECISIONS and row.get("layout") in LAYOUTS
            and (row.get("seconds") is None or _seconds(row["seconds"], positive=True))
            and isinstance(row.get("note", ""), str))


def _valid_estimates(estimates: Any) -> bool:
    return isinstance(estimates, dict) and all(
        isinstance(q, str) and isinstance(t, dict)
        and all(isinstance(s, str) and _SIDE.fullmatch(s) and _seconds(v, positive=False) for s, v in t.items())
        for q, t in estimates.items())


def _seconds(value: Any, positive: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return (value > 0 if positive else value >= 0) and value <= MAX_SECONDS


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1 << 20
