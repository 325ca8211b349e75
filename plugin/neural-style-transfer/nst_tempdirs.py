"""Per-run private temporary folders (RunDir) and the removal of those a killed run left behind.

GIMP's Cancel kills the plug-in, so a run cannot always remove its own folder: the next run
removes folders whose process is gone (cleanup_stale). The folder's name carries the pid.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from typing import List, Optional

from nst_contract.plugin_config import Config


TEMP_PREFIX = "nst-gimp-"


def temp_root(cfg: Optional[Config] = None, environ: Optional[dict] = None) -> Optional[str]:
    """Where run folders go: ``temp_dir`` from the config; in a Flatpak sandbox (whose /tmp
    the host cannot see, and the engine may run on the host) the app's cache folder;
    else the system's temp folder (None)."""
    environ = os.environ if environ is None else environ
    root = cfg.temp_dir if cfg is not None and cfg.temp_dir else None
    if root is None and (environ.get("FLATPAK_ID") or os.path.exists("/.flatpak-info")):
        cache = environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        root = os.path.join(cache, "nst-gimp-tmp")
    if root:
        os.makedirs(root, mode=0o700, exist_ok=True)
    return root


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        try:
            import ctypes
            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
            if not handle:
                return False
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            kernel32.CloseHandle(handle)
            return code.value == 259  # STILL_ACTIVE
        except Exception:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def cleanup_stale(tmp_root: Optional[str] = None, max_age_s: float = 7 * 24 * 3600,
                  min_age_s: float = 0.0, now: Optional[float] = None) -> List[str]:
    """Remove run folders left by plug-in runs that were killed (GIMP's Cancel
    kills the plug-in). A folder is stale when the process that made it is gone
    (and the folder is older than ``min_age_s``), or it is older than ``max_age_s``."""
    tmp_root = tmp_root or tempfile.gettempdir()
    now = time.time() if now is None else now
    removed = []
    try:
        names = os.listdir(tmp_root)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(TEMP_PREFIX):
            continue
        path = os.path.join(tmp_root, name)
        m = re.match(re.escape(TEMP_PREFIX) + r"(\d+)-", name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not os.path.isdir(path) or os.path.islink(path):
            continue
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            continue
        age = now - st.st_mtime
        dead = m is not None and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1)))
        if (dead and age >= min_age_s) or age >= max_age_s:
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.exists(path):
                removed.append(path)
    return removed


class RunDir:
    """A private temp folder for one run (mode 0700), always removed on exit."""

    def __init__(self, tmp_root: Optional[str] = None):
        self.tmp_root = tmp_root
        self.path = ""

    def __enter__(self) -> "RunDir":
        try:
            cleanup_stale(self.tmp_root)
        except Exception:
            pass
        self.path = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=self.tmp_root)
        return self

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def __exit__(self, *exc) -> None:
        if self.path:
            shutil.rmtree(self.path, ignore_errors=True)
