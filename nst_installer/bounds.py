"""Where --uninstall may remove anything: only inside the places install.py installs into.

The manifest is a file in the user's folder, so it may be damaged or edited; a path it names is
removed only when its location (after ``..`` and the symbolic links of its folders) is in the
prefix, in a GIMP profile's ``plug-ins/neural-style-transfer`` folder, or is one of the prefix's
``.pth`` files; a folder install.py made to hold those (such as ``~/.local/share``) is removed
only when empty. And a whole folder is removed with its content only when it is one that
install.py fills alone: the engine's environment and its copied packages.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, List, Optional, Tuple

from .common import CONTRACT_SRC, ENGINE_PACKAGES, PLUGIN_NAME, PTH_NAME
from .places import pth_name


def location(path: str) -> Path:
    """Where ``path`` is after ``..`` and the symbolic links of its folders; a symbolic link
    itself is not followed (removing it removes the link, never what it points to)."""
    p = Path(path)
    if p.is_symlink():
        return Path(os.path.realpath(p.parent)) / p.name
    return Path(os.path.realpath(p))


def inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def plugin_folder(loc: Path) -> Optional[Path]:
    """The ``…/plug-ins/neural-style-transfer`` folder that ``loc`` is or is in, or None."""
    parts = loc.parts
    for i in range(len(parts) - 1):
        if parts[i] == "plug-ins" and parts[i + 1] == PLUGIN_NAME:
            return Path(*parts[:i + 2])
    return None


class Bounds:
    """The places of one prefix's install."""

    def __init__(self, prefix: Path):
        self.prefix = Path(os.path.realpath(prefix))
        self.pth_names = {pth_name(prefix), PTH_NAME}

    def holds(self, kind: str, loc: Path) -> bool:
        """Whether a ``file`` or ``tree`` entry at ``loc`` is in these places."""
        return (inside(loc, self.prefix) or plugin_folder(loc) is not None
                or (kind == "file" and loc.name in self.pth_names))

    def whole_tree(self, loc: Path) -> bool:
        """Whether ``loc`` is a folder that install.py fills alone (removed with its content)."""
        known = [self.prefix / "venv"] + [self.prefix / "engine" / src.name for src, _what in ENGINE_PACKAGES]
        folder = plugin_folder(loc)
        return loc in known or (folder is not None and loc == folder / CONTRACT_SRC.name)

    def split(self, entries: Iterable[dict]) -> Tuple[List[Tuple[dict, Path]], List[Tuple[dict, Path]]]:
        """(the entries uninstall may act on, the ones it refuses), each with its location. A
        ``dir`` entry is accepted inside the places or when it holds an accepted entry."""
        located = [(e, location(e["path"])) for e in entries]
        ok = [(e, loc) for e, loc in located if e["kind"] != "dir" and self.holds(e["kind"], loc)]
        held = [loc for _e, loc in ok]
        for e, loc in located:
            if e["kind"] == "dir" and (self.holds("tree", loc) or any(inside(h, loc) for h in held)):
                ok.append((e, loc))
        accepted = {id(e) for e, _loc in ok}
        return ok, [(e, loc) for e, loc in located if id(e) not in accepted]
