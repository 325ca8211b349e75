"""What every part of the installer shares: the project's names and folders, exit codes, messages.

The folders are this checkout's: install.py always runs from the checkout it installs.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path


APP = "gimp-neural-style"


PLUGIN_NAME = "neural-style-transfer"


PTH_NAME = "gimp_neural_style.pth"  # before per-prefix names; removed when an install is repeated


MANIFEST_NAME = "install-manifest.json"


REPO = Path(__file__).resolve().parent.parent
INSTALL_PY = REPO / "install.py"  # what the messages tell the user to run again


ENGINE_REQUIREMENTS = REPO / "requirements-engine.txt"


PLUGIN_SRC = REPO / "plugin" / PLUGIN_NAME


ENGINE_SRC = REPO / "nst_engine"


# The packages copied into <prefix>/engine/ (the engine's code), with what the manifest calls them.
# The contract between the engine, the plug-in and the installer (standard library only): copied
# next to the engine's code and next to the plug-in, which import it.
CONTRACT_SRC = REPO / "nst_contract"
ENGINE_PACKAGES = [(ENGINE_SRC, "engine code (a copy of nst_engine)"),
                   (CONTRACT_SRC, "the engine's contract (a copy of nst_contract)")]


CPU_INDEX = "https://download.pytorch.org/whl/cpu"


FLATPAK_ID = "org.gimp.GIMP"


FLATPAK_LAUNCHER = ["flatpak-spawn", "--host", "--watch-bus"]


FLATPAK_WRAPPER = "flatpak-host-python"


FLATPAK_PERMISSION = f"flatpak override --user --talk-name=org.freedesktop.Flatpak {FLATPAK_ID}"


EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_OFFLINE, EXIT_SELFCHECK, EXIT_NO_GIMP = 0, 1, 2, 3, 4, 5


class InstallError(Exception):
    """A failure with a message that says what to do, and the exit code to end with."""

    def __init__(self, message: str, code: int = EXIT_FAIL):
        super().__init__(message)
        self.code = code


def say(*parts: object) -> None:
    print(*parts, flush=True)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\"'\"'") + "'"
