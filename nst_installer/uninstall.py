"""--uninstall: remove exactly what the manifest lists, keep anything else (and say so).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import List

from .common import EXIT_OK, FLATPAK_ID, say
from .places import find_gimp_profiles
from .session import Session


def _bytecode_dir(py: Path) -> Path:
    return py.parent / "__pycache__"


def _bytecode_names(py: Path) -> List[str]:
    cache = _bytecode_dir(py)
    return sorted(f.name for f in cache.glob(f"{py.stem}.*.pyc")) if cache.is_dir() else []


class Uninstall(Session):
    """Removing an install by its manifest."""

    def uninstall(self) -> int:
        m = self.manifest
        if not m.path.exists():
            say(f"nothing to uninstall: no manifest at {m.path}" + ("" if self.args.prefix else
                " (installed with another --prefix? pass the same --prefix)"))
            return EXIT_OK
        # files, then our folders, then the manifest (an interrupted uninstall can be run again),
        # then the folders install.py made, deepest first, if nothing else is in them; a folder
        # that was there before is never removed, and nothing install.py did not write is
        owned = self.owned_trees()

        def order(e: dict) -> tuple:
            if e["path"] == str(m.path):
                rank = 2
            else:
                rank = 0 if e["kind"] == "file" else 1 if e["path"] in owned else 3
            return (rank, -len(Path(e["path"]).parts))

        verb = "would remove" if self.dry else "removing"
        for e in sorted(m.entries, key=order):
            p = Path(e["path"])
            if e["kind"] == "file":
                if p.is_symlink() or p.exists():
                    say(f"{verb} {p}")
                    if not self.dry:
                        p.unlink()
                        self.drop_bytecode(p)
            elif not p.is_dir():
                continue
            elif e["path"] in owned:
                count = sum(len(files) for _d, _s, files in os.walk(p))
                say(f"{verb} {p}{os.sep} ({count} files, all made by install.py or by the programs it ran)")
                if not self.dry:
                    shutil.rmtree(p)
            elif e["kind"] == "tree" and not e["created"] and not self.lists_inside(e["path"]):
                say(f"keeping {p}{os.sep}: it was there before install.py")
            else:
                self.remove_folder(p, e["created"], owned)
        if self.dry:
            return EXIT_OK
        if any(p.kind == "flatpak" for p in find_gimp_profiles()):
            say(f"If you granted the Flatpak permission, revoke it with: "
                f"flatpak override --user --no-talk-name=org.freedesktop.Flatpak {FLATPAK_ID}")
        say("uninstalled")
        return EXIT_OK

    def owned_trees(self) -> set:
        """Folders whose whole content is install.py's (the environment, the engine's package): a
        ``tree`` entry with no other entry inside it. A tree holding listed files (the plug-in and
        weights folders, engine/) is ours only as far as the manifest lists."""
        return {e["path"] for e in self.manifest.entries
                if e["kind"] == "tree" and e["created"] and not self.lists_inside(e["path"])}

    def lists_inside(self, folder: str) -> bool:
        return any(e["path"] != folder and Path(e["path"]).is_relative_to(folder) for e in self.manifest.entries)

    def foreign_files(self, folder: Path, owned: set) -> List[Path]:
        """Files under ``folder`` that install.py did not write (nor its programs, nor Python's
        bytecode of the plug-in files): what --uninstall keeps."""
        listed = {e["path"] for e in self.manifest.entries if e["kind"] == "file"}
        ours = listed | {str(_bytecode_dir(Path(f)) / n) for f in listed if f.endswith(".py")
                         for n in _bytecode_names(Path(f))}
        out = []
        for d, dirs, files in os.walk(folder):
            dirs[:] = [x for x in dirs if str(Path(d) / x) not in owned]
            out += [Path(d) / f for f in files if str(Path(d) / f) not in ours]
        return sorted(out)

    def drop_bytecode(self, py: Path) -> None:
        """The .pyc files GIMP's Python made of a plug-in file we remove, and their folder if emptied."""
        cache = _bytecode_dir(py)
        for name in _bytecode_names(py):
            try:
                (cache / name).unlink()
            except OSError:
                pass
        try:
            cache.rmdir()
        except OSError:
            pass

    def remove_folder(self, p: Path, created: bool, owned: set) -> None:
        """A folder holding our files (now removed) and maybe the user's: kept, and what is kept said."""
        foreign = self.foreign_files(p, owned)
        if foreign:
            names = ", ".join(str(f.relative_to(p)) for f in foreign[:8]) + (", ..." if len(foreign) > 8 else "")
            say(f"keeping {p}{os.sep}: it holds {len(foreign)} file(s) install.py did not make: {names}")
            return
        if not created:
            return
        if self.dry:
            say(f"would remove {p}{os.sep} (then empty)")
            return
        for d, _dirs, _files in sorted(os.walk(p), key=lambda w: -len(Path(w[0]).parts)):
            try:
                Path(d).rmdir()  # empty folders left, such as an emptied __pycache__
            except OSError:
                pass
        if p.exists():
            say(f"keeping {p}{os.sep}: it is not empty")
        else:
            say(f"removing {p}{os.sep} (empty)")
