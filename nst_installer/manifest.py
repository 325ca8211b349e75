"""The record of what install.py created (install-manifest.json), so --uninstall removes exactly that.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import List, Optional

KINDS = ("file", "tree", "dir")
# The facts of the install the manifest records beside its entries (all strings).
FACTS = ("installed", "engine_python", "weights", "model", "device", "engine_code", "weights_source",
         "weights_sha256")


class Manifest:
    """What install.py created, so that --uninstall removes exactly that.

    Each entry: path; kind: ``file``, ``tree`` (a folder whose whole content is ours: the
    environment, the engine copy, the plug-in folder) or ``dir`` (a container such as the prefix,
    removed only when empty); created: whether install.py made it (a folder that was there
    before is never removed, only our files in it); what: for people.

    The file may be damaged or edited by hand: what does not have this shape is left out and
    described in ``problems`` (``unreadable``: nothing of it could be read); the next save
    writes only what is valid.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.data: dict = {"format": 1, "entries": []}
        self.problems: List[str] = []
        self.unreadable = False
        self.entries_left_out = 0
        if self.path.exists() or self.path.is_symlink():
            self.load()

    def load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            self.unreadable = True
            self.problems.append(f"it cannot be read as JSON ({str(exc)[:120]})")
            return
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            self.unreadable = True
            self.problems.append("it is not a manifest (no list of entries)")
            return
        for key in FACTS:
            if key in data and not isinstance(data[key], str):
                self.problems.append(f"{key} is {data[key]!r}, not a string: left out")
                del data[key]
        entries = []
        for e in data["entries"]:
            problem = entry_problem(e)
            if problem:
                self.problems.append(f"entry {str(e)[:160]} left out: {problem}")
                self.entries_left_out += 1
            else:
                entries.append({"path": e["path"], "kind": e["kind"], "created": e["created"],
                                "what": e.get("what", "")})
        data["entries"] = entries
        self.data = data

    @property
    def entries(self) -> List[dict]:
        return self.data["entries"]

    def find(self, path: Path) -> Optional[dict]:
        for e in self.entries:
            if e["path"] == str(path):
                return e
        return None

    def add(self, path: Path, kind: str, created: bool, what: str) -> None:
        old = self.find(path)
        if old:  # the first run knows whether it was there before
            old["what"] = what
            return
        self.entries.append({"path": str(path), "kind": kind, "created": created, "what": what})

    def save(self) -> None:
        self.data.setdefault("installed", time.strftime("%Y-%m-%dT%H:%M:%S"))  # a second run changes nothing
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n")
        os.replace(tmp, self.path)
        self.problems, self.unreadable, self.entries_left_out = [], False, 0  # what is written is valid


def entry_problem(e: object) -> Optional[str]:
    """Why ``e`` is not a manifest entry, or None."""
    if not isinstance(e, dict):
        return "not an object"
    if not isinstance(e.get("path"), str) or not os.path.isabs(e["path"]) or "\0" in e["path"]:
        return "its path is not an absolute path"
    if e.get("kind") not in KINDS:
        return f"its kind is not one of {', '.join(KINDS)}"
    if not isinstance(e.get("created"), bool):
        return "its 'created' is not true or false"
    if not isinstance(e.get("what", ""), str):
        return "its 'what' is not a string"
    return None
