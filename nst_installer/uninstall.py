"""--uninstall: remove exactly what the manifest lists, inside the places install.py installs into
(bounds.py), keep anything else (and say so).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import List, Tuple

from .bounds import Bounds, inside
from .common import EXIT_FAIL, EXIT_OK, FLATPAK_ID, InstallError, PLUGIN_NAME, say, warn
from .places import find_gimp_profiles
from .session import Session


def _bytecode_dir(py: Path) -> Path:
    return py.parent / "__pycache__"


def _bytecode_names(py: Path) -> List[str]:
    cache = _bytecode_dir(py)
    return sorted(f.name for f in cache.glob(f"{py.stem}.*.pyc")) if cache.is_dir() else []


def uninstall(s: Session) -> int:
    """--uninstall: the manifest's entries that bounds.py accepts, removed in order; the rest said."""
    m = s.manifest
    if not (m.path.exists() or m.path.is_symlink()):
        say(f"nothing to uninstall: no manifest at {m.path}" + ("" if s.args.prefix else
            " (installed with another --prefix? pass the same --prefix)"))
        return EXIT_OK
    if m.unreadable:
        raise InstallError(
            f"the manifest {m.path} is damaged: {m.problems[0]}; nothing was removed.\n"
            "Run install.py again with the options you installed with (it writes a new manifest), then "
            f"--uninstall; or remove {s.prefix} and the plug-ins{os.sep}{PLUGIN_NAME} folders of your "
            "GIMP profiles yourself.", EXIT_FAIL)
    for problem in m.problems:
        warn(f"{m.path}: {problem}")
    bounds = Bounds(s.prefix)
    entries = m.entries + ([] if m.find(m.path) else [{"path": str(m.path), "kind": "file", "created": True,
                                                       "what": "this manifest"}])
    accepted, refused = bounds.split(entries)
    removal = Removal(s.dry, bounds, accepted, refused)
    manifest_at = bounds.prefix / m.path.name
    # files, then our folders, then the manifest (an interrupted uninstall can be run again),
    # then the folders install.py made, deepest first, if nothing else is in them; a folder
    # that was there before is never removed, and nothing install.py did not write is

    def order(item) -> tuple:
        e, loc = item
        rank = 2 if loc == manifest_at else 0 if e["kind"] == "file" else 1 if loc in removal.owned else 3
        return (rank, -len(loc.parts))

    for e, loc in sorted(accepted, key=order):
        removal.remove(e, loc)
    if refused:
        warn(f"refused to remove {len(refused)} path(s) that the manifest names outside the places install.py "
             f"installs into (the prefix {bounds.prefix}, GIMP's plug-ins{os.sep}{PLUGIN_NAME} folders, the "
             "prefix's .pth file); they are kept:\n" + "\n".join(
                 f"  {e['path']}" + (f" (that is {loc})" if str(loc) != e["path"] else "") for e, loc in refused))
    if s.dry:
        return EXIT_OK
    if any(p.kind == "flatpak" for p in find_gimp_profiles()):
        say(f"If you granted the Flatpak permission, revoke it with: "
            f"flatpak override --user --no-talk-name=org.freedesktop.Flatpak {FLATPAK_ID}")
    if m.entries_left_out:
        say(f"uninstalled what the manifest's valid entries name; {m.entries_left_out} damaged entries were left "
            f"out (above): what they named is still there (see {s.prefix} and the plug-ins{os.sep}"
            f"{PLUGIN_NAME} folders of your GIMP profiles)")
        return EXIT_FAIL
    say("uninstalled" + (f" (except the {len(refused)} path(s) refused above)" if refused else ""))
    return EXIT_OK


class Removal:
    """The removal of a manifest's accepted entries, each at its location (bounds.location)."""

    def __init__(self, dry: bool, bounds: Bounds, accepted: List[Tuple[dict, Path]],
                 refused: List[Tuple[dict, Path]]):
        self.dry, self.bounds = dry, bounds
        self.locs = [loc for _e, loc in accepted + refused]
        self.files = {loc for e, loc in accepted if e["kind"] == "file"}
        # folders whose whole content is install.py's (the environment, the copied packages): a
        # ``tree`` with no other entry inside it. A tree holding listed files (the plug-in and
        # weights folders, engine/) is ours only as far as the manifest lists.
        self.owned = {loc for e, loc in accepted if e["kind"] == "tree" and e["created"]
                      and bounds.whole_tree(loc) and not self.lists_inside(loc)}

    def lists_inside(self, folder: Path) -> bool:
        return any(loc != folder and inside(loc, folder) for loc in self.locs)

    def remove(self, e: dict, loc: Path) -> None:
        """One entry: a file or link unlinked, a whole tree of ours removed, a folder removed when
        nothing else is in it (a folder outside the places: only when empty)."""
        p, verb = Path(e["path"]), "would remove" if self.dry else "removing"
        if e["kind"] == "file":
            if loc.is_symlink() or loc.exists():
                say(f"{verb} {p}")
                if not self.dry:
                    loc.unlink()
                    drop_bytecode(loc)
        elif loc.is_symlink():  # one of our folders replaced by a link: the link goes, its target stays
            say(f"{verb} the symbolic link {p} (to {os.readlink(loc)}; what it points to is kept)")
            if not self.dry:
                loc.unlink()
        elif not loc.is_dir():
            return
        elif loc in self.owned:
            count = sum(len(files) for _d, _s, files in os.walk(loc))
            say(f"{verb} {p}{os.sep} ({count} files, all made by install.py or by the programs it ran)")
            if not self.dry:
                shutil.rmtree(loc)
        elif not self.bounds.holds("tree", loc):
            self.remove_container(p, loc, e["created"])
        elif e["kind"] == "tree" and not e["created"] and not self.lists_inside(loc):
            say(f"keeping {p}{os.sep}: it was there before install.py")
        else:
            self.remove_folder(p, loc, e["created"])

    def foreign_files(self, folder: Path) -> List[Path]:
        """Files under ``folder`` that install.py did not write (nor its programs, nor Python's
        bytecode of the plug-in files): what --uninstall keeps."""
        ours = {str(f) for f in self.files} | {str(_bytecode_dir(f) / n) for f in self.files if f.suffix == ".py"
                                               for n in _bytecode_names(f)}
        out = []
        for d, dirs, files in os.walk(folder):
            out += [Path(d) / x for x in dirs if (Path(d) / x).is_symlink()]  # links to folders count too
            dirs[:] = [x for x in dirs if Path(d) / x not in self.owned]
            out += [Path(d) / f for f in files if str(Path(d) / f) not in ours]
        return sorted(out)

    def remove_container(self, p: Path, loc: Path, created: bool) -> None:
        """A folder install.py made to hold the install (such as ~/.local/share): removed only when empty."""
        if not created:
            return
        if self.dry:
            say(f"would remove {p}{os.sep} if it is then empty")
            return
        try:
            loc.rmdir()
            say(f"removing {p}{os.sep} (empty)")
        except OSError:
            say(f"keeping {p}{os.sep}: it is not empty")

    def remove_folder(self, p: Path, loc: Path, created: bool) -> None:
        """A folder holding our files (now removed) and maybe the user's: kept, and what is kept said."""
        foreign = self.foreign_files(loc)
        if foreign:
            names = ", ".join(str(f.relative_to(loc)) for f in foreign[:8]) + (", ..." if len(foreign) > 8 else "")
            say(f"keeping {p}{os.sep}: it holds {len(foreign)} file(s) install.py did not make: {names}")
            return
        if not created:
            return
        if self.dry:
            say(f"would remove {p}{os.sep} (then empty)")
            return
        for d, _dirs, _files in sorted(os.walk(loc), key=lambda w: -len(Path(w[0]).parts)):
            try:
                Path(d).rmdir()  # empty folders left, such as an emptied __pycache__
            except OSError:
                pass
        if loc.exists():
            say(f"keeping {p}{os.sep}: it is not empty")
        else:
            say(f"removing {p}{os.sep} (empty)")


def drop_bytecode(py: Path) -> None:
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
