"""Damaged or hand-edited calibration caches (issue 20): the files that neither the engine
(tests/engine/test_numerics.py) nor the plug-in (tests/plugin/test_preset_times_cache.py) may
crash on, and that nst_contract.calibration's reader refuses (tests/contract/test_calibration.py).

Importable from every test folder: tests/ is on the path once tests/conftest.py is loaded.
"""
from __future__ import annotations

import copy
import json
from typing import List, Tuple, Union

# An entry as the engine writes it (a tiny network's calibration), valid in every respect.
GOOD_KEY = "Some CPU | torch 2.x, 2 threads | vgg16 to relu5_3 (0123456789)"
GOOD = {
    "table": [{"precision": p, "layout": l, "seconds": s, "note": ""}
              for (p, l), s in zip([("fp32", "contiguous"), ("fp32", "channels-last"), ("bf16", "contiguous"),
                                    ("bf16", "channels-last")], (0.02, 0.03, 0.05, 0.06))],
    "size": [256, 192], "model": "vgg16", "device": "cpu", "measured_at": "2026-12-01T10:00:00+0000",
    "choice": ["fp32", "contiguous"], "size_limit": 4096,
    "estimates": {q: {str(side): round(f * side / 256, 1) for side in (256, 512, 1024, 2048, 4096)}
                  for q, f in (("draft", 2.0), ("balanced", 6.0), ("best", 20.0))},
}
NESTED = "[" * 100_000 + "]" * 100_000


def changed(path: str, value, entry: dict = GOOD) -> dict:
    """A copy of ``entry`` with the field at ``path`` ("table.0.seconds") set to ``value``
    (the marker DELETE removes it)."""
    out = copy.deepcopy(entry)
    *parents, last = path.split(".")
    holder = out
    for part in parents:
        holder = holder[int(part)] if isinstance(holder, list) else holder[part]
    last = int(last) if isinstance(holder, list) else last
    if value is DELETE:
        del holder[last]
    else:
        holder[last] = value
    return out


DELETE = object()


def cache_text(entries) -> str:
    return json.dumps({"entries": entries})


def entry_file(entry) -> str:
    """A cache whose one entry (under GOOD_KEY) is ``entry``; a float infinity is written as
    1e400 (what json reads back as inf), a NaN as NaN."""
    return json.dumps({"entries": {GOOD_KEY: entry}}).replace("Infinity", "1e400")


BAD_ENTRIES = {
    "seconds as strings": {**GOOD, "table": [{**r, "seconds": str(r["seconds"])} for r in GOOD["table"]]},
    "seconds NaN": changed("table.0.seconds", float("nan")),
    "seconds negative": changed("table.0.seconds", -1.0),
    "seconds true": changed("table.0.seconds", True),
    "seconds 1e400": changed("table.0.seconds", float("inf")),
    "table empty": changed("table", []),
    "table a string": changed("table", "fast"),
    "table rows strings": changed("table", ["x"] * 4),
    "row without precision": changed("table.1.precision", DELETE),
    "unknown precision": changed("table.1.precision", "fp8"),
    "size strings": changed("size", ["a", "b"]),
    "size of three": changed("size", [256, 192, 3]),
    "choice a number": changed("choice", 3),
    "unknown layout chosen": changed("choice", ["fp32", "nhwc"]),
    "model missing": changed("model", DELETE),
    "device a number": changed("device", 0),
    "measured_at a list": changed("measured_at", []),
    "estimates a string": changed("estimates", "fast"),
    "estimates a list": changed("estimates", [1, 2]),
    "estimate a string": changed("estimates.draft.256", "1"),
    "estimate NaN": changed("estimates.draft.256", float("nan")),
    "estimate 1e400": changed("estimates.best.4096", float("inf")),
    "estimate huge": changed("estimates.best.4096", 1e300),
    "estimate negative": changed("estimates.best.512", -3.0),
    "estimate side not a number": {**GOOD, "estimates": {**GOOD["estimates"], "draft": {"abc": 1.0}}},
    "size_limit 1e400": changed("size_limit", float("inf")),
    "size_limit a string": changed("size_limit", "4096"),
    "size_limit zero": changed("size_limit", 0),
    "size_limit huge": changed("size_limit", 10 ** 400),
    "entry deeply nested": changed("estimates", json.loads("[" * 500 + "]" * 500)),
    "entry a list": [1, 2],
}


def bad_files() -> List[Tuple[str, Union[str, bytes]]]:
    """(name, file content) of every damaged cache: whole-file damage, then one bad entry each."""
    files: List[Tuple[str, Union[str, bytes]]] = [
        ("empty file", ""), ("not JSON", "{not json"), ("not UTF-8", b"\xff\xfe{\x00"),
        ("a list", "[1, 2]"), ("entries a list", json.dumps({"entries": [GOOD]})),
        ("entries a string", json.dumps({"entries": "x"})),
        ("deeply nested", NESTED), ("entries deeply nested", '{"entries": ' + NESTED + "}"),
        ("too large", " " * (5 << 20) + cache_text({GOOD_KEY: GOOD})),
    ]
    files += [(name, entry_file(entry)) for name, entry in BAD_ENTRIES.items()]
    return files
