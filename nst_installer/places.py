"""Where things go: the per-user data folder, GIMP 3 profiles (native, Flatpak, Snap, macOS,
Windows), the engine's .pth name and a virtual environment's interpreter.
"""
from __future__ import annotations

import hashlib
import os
import platform
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .common import APP, FLATPAK_ID, PLUGIN_NAME


def user_data_dir(system: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                  home: Optional[Path] = None) -> Path:
    """The per-user data folder for the engine (the default ``--prefix``)."""
    system = system or platform.system()
    env = os.environ if env is None else env
    home = Path(home) if home else Path(env.get("HOME") or Path.home())
    if system == "Windows":
        base = env.get("LOCALAPPDATA") or env.get("APPDATA") or str(home / "AppData" / "Local")
        return Path(base) / APP
    if system == "Darwin":
        return home / "Library" / "Application Support" / APP
    return Path(env.get("XDG_DATA_HOME") or home / ".local" / "share") / APP


class Profile:
    """One GIMP 3.x profile folder."""

    def __init__(self, path: Path, kind: str):
        self.path = Path(path)
        self.kind = kind  # native | flatpak | snap
        self.version = self.path.name

    @property
    def plugin_dir(self) -> Path:
        return self.path / "plug-ins" / PLUGIN_NAME

    def __repr__(self) -> str:
        return f"Profile({str(self.path)!r}, {self.kind!r})"

    def label(self) -> str:
        return f"GIMP {self.version}" + ("" if self.kind == "native" else f" ({self.kind})")


def profile_bases(system: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                  home: Optional[Path] = None) -> List[Tuple[Path, str]]:
    """The folders that hold versioned GIMP profiles (``<base>/3.0``, ``<base>/3.2``), per OS."""
    system = system or platform.system()
    env = os.environ if env is None else env
    home = Path(home) if home else Path(env.get("HOME") or Path.home())
    if system == "Windows":
        appdata = env.get("APPDATA") or str(home / "AppData" / "Roaming")
        return [(Path(appdata) / "GIMP", "native")]
    if system == "Darwin":
        return [(home / "Library" / "Application Support" / "GIMP", "native")]
    config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return [
        (config / "GIMP", "native"),
        (home / ".var" / "app" / FLATPAK_ID / "config" / "GIMP", "flatpak"),
        (home / "snap" / "gimp" / "current" / ".config" / "GIMP", "snap"),
    ]


def kind_of(path: Path) -> str:
    parts = Path(path).parts
    if FLATPAK_ID in parts and ".var" in parts:
        return "flatpak"
    if "snap" in parts and "gimp" in parts:
        return "snap"
    return "native"


def find_gimp_profiles(system: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                       home: Optional[Path] = None) -> List[Profile]:
    """Every GIMP 3.x profile folder on this machine (3.0, 3.2, any later 3.x), oldest first."""
    env = os.environ if env is None else env
    found: List[Profile] = []
    seen = set()
    for base, kind in profile_bases(system, env, home):
        if not base.is_dir():
            continue
        versions = [p for p in base.iterdir() if p.is_dir() and re.fullmatch(r"3\.\d+", p.name)]
        for path in sorted(versions, key=lambda p: int(p.name.split(".")[1])):
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                found.append(Profile(path, kind))
    # GIMP3_DIRECTORY replaces the profile folder for a GIMP started with it set.
    override = env.get("GIMP3_DIRECTORY")
    if override and Path(override).is_dir() and os.path.realpath(override) not in seen:
        found.append(Profile(Path(override), kind_of(Path(override))))
    return found


def pth_name(prefix: Path) -> str:
    """The .pth file that puts one prefix's engine on an interpreter's path: named after the prefix,
    so that two prefixes sharing one ``--python`` do not overwrite (or uninstall) each other's."""
    return f"gimp_neural_style_{hashlib.sha256(str(prefix).encode()).hexdigest()[:12]}.pth"


def venv_python(venv: Path) -> Path:
    if platform.system() == "Windows":
        return Path(venv) / "Scripts" / "python.exe"
    return Path(venv) / "bin" / "python"
