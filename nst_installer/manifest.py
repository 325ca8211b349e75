"""The record of what install.py created (install-manifest.json), so --uninstall removes exactly that.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import List, Optional


class Manifest:
    """What install.py created, so that --uninstall removes exactly that.

    Each entry: path; kind: ``file``, ``tree`` (a folder whose whole content is ours: the
    environment, the engine copy, the plug-in folder) or ``dir`` (a container such as the prefix,
    removed only when empty); created: whether install.py made it (a folder that was there
    before is never removed, only our files in it); what: for people.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.data: dict = {"format": 1, "entries": []}
        if self.path.exists():
            self.data = json.loads(self.path.read_text())

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
