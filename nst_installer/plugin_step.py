"""Step 4, the plug-in: its files and nst-config.json in every GIMP 3 profile (a Flatpak GIMP gets a
launcher that starts the engine on the host).
"""
from __future__ import annotations

import platform
from pathlib import Path
from typing import List, Tuple

from nst_contract.plugin_config import CONFIG_NAME, config_text

from .common import (CONTRACT_SRC, FLATPAK_LAUNCHER, FLATPAK_PERMISSION, FLATPAK_WRAPPER, InstallError,
    PLUGIN_NAME, PLUGIN_SRC, quote)
from .places import Profile, find_gimp_profiles, kind_of
from .session import Session


def plugin_files() -> Tuple[List[Path], Path]:
    """The plug-in's files in this checkout, and its main (executable) file."""
    main = PLUGIN_SRC / f"{PLUGIN_NAME}.py"
    if not main.is_file():
        raise InstallError(f"{main} is missing: run install.py from a complete checkout")
    files = sorted(p for p in PLUGIN_SRC.iterdir()
                   if p.is_file() and not p.name.endswith((".pyc", "~")) and p.name != CONFIG_NAME)
    return files, main


class PluginStep(Session):
    """The plug-in in GIMP's profiles."""

    def flatpak_wrapper(self, python: Path) -> Path:
        """A Flatpak GIMP cannot run the host's Python itself: the plug-in runs this script
        (inside the sandbox), which starts the engine's interpreter on the host."""
        wrapper = self.prefix / FLATPAK_WRAPPER
        script = ("#!/bin/sh\n# Made by install.py for a Flatpak GIMP: runs the engine's Python on the host.\n"
                  "# Needs once: " + FLATPAK_PERMISSION + "\n"
                  f"exec {' '.join(FLATPAK_LAUNCHER)} --env=PYTHONUNBUFFERED=1 {quote(str(python))} \"$@\"\n")
        self.write_file(wrapper, script.encode(), "Flatpak launcher of the engine", 0o755)
        return wrapper

    def plugin(self, profiles: List[Profile], python: Path, root: Path, weights: Path) -> None:
        a = self.args
        files, main = plugin_files()
        for prof in profiles:
            dest = prof.plugin_dir
            self.mkdir(dest, f"plug-in for {prof.label()}", tree=True)
            for src in files:
                exe = src == main and platform.system() != "Windows"
                self.write_file(dest / src.name, src.read_bytes(), f"plug-in file ({prof.label()})",
                                0o755 if exe else 0o644)
            self.copy_package(CONTRACT_SRC, dest, f"the plug-in's contract with the engine ({prof.label()})")
            engine = python
            if prof.kind == "flatpak":
                engine = self.flatpak_wrapper(python)
            config = config_text(str(engine), engine_path=str(root), weights=str(weights), model=a.model,
                                 device=a.device, **self.weights_info)
            self.write_file(dest / CONFIG_NAME, config.encode(),
                            f"plug-in config ({prof.label()})")
            self.report.append((f"plug-in, {prof.label()}", str(dest)))

    def profiles(self) -> List[Profile]:
        a = self.args
        if a.gimp_dir:
            out = []
            for d in a.gimp_dir:
                p = Path(d).expanduser().resolve()
                if not p.is_dir():
                    raise InstallError(f"--gimp-dir {d}: no such folder (give a GIMP profile folder "
                                       "such as ~/.config/GIMP/3.0)")
                out.append(Profile(p, kind_of(p)))
            return out
        return find_gimp_profiles()
