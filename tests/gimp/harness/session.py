"""Commands inside a GIMP's environment, and a GIMP found on this machine's PATH."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

from .series import CLEAN_PATH, GimpUnavailable, program_name, read_version, series_of


class Session:
    """Commands inside the GIMP environment (the root, or this machine when native)."""

    def __init__(self, prefix, base_env, gimp):
        self.prefix = prefix          # argv prefix that enters the root ([] when native)
        self.base_env = base_env
        self.console = gimp.console   # e.g. gimp-console-3.2: batch mode, no display needed
        self.gui = gimp.gui           # e.g. gimp-3.2: the full GUI

    def _cmd(self, argv, env):
        full_env = dict(self.base_env)
        full_env.update(env or {})
        if self.prefix:
            return ["env", "-i", *[f"{k}={v}" for k, v in full_env.items()], *self.prefix, *argv], \
                {"PATH": CLEAN_PATH}
        return list(argv), full_env

    def run(self, argv, env=None, timeout=600):
        cmd, penv = self._cmd(argv, env)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=penv)

    def popen(self, argv, env=None, **kw):
        cmd, penv = self._cmd(argv, env)
        return subprocess.Popen(cmd, env=penv, **kw)

    def gimp(self, args, env=None, timeout=600):
        return self.run([self.console, *args], env, timeout)

    def has(self, program):
        return self.run(["sh", "-c", f"command -v {program}"], timeout=30).returncode == 0


class Gimp:
    """One GIMP series' programs and the version they report (``version``: what the tests ran)."""

    def __init__(self, series: str, console: str, gui: str | None, version: str):
        self.series, self.console, self.gui, self.version = series, console, gui, version
        if series_of(version) != series:
            raise GimpUnavailable(f"{console} is GIMP {version}, not {series}")


class NativeGimp(Gimp):
    """GIMP of the series found on PATH: no chroot needed."""

    kind = "native"

    @contextlib.contextmanager
    def session(self, binds=()):
        # a clean PATH: with pyenv shims first, the plug-ins' "#!/usr/bin/env python3" finds
        # a Python without gi (see shared/docs/gimp3-headless.md)
        path = os.pathsep.join([os.path.dirname(shutil.which(self.console)), "/usr/local/bin", CLEAN_PATH])
        yield Session([], {"PATH": path, "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/tmp")}, self)


def native_gimp(series: str):
    """GIMP of ``series`` on PATH (``gimp-console-<series>``, or ``gimp-console-3`` when it is that
    series), or None."""
    if os.environ.get("NST_GIMP_FORCE_CHROOT") == "1":
        return None
    bindirs = os.environ.get("PATH", "").split(os.pathsep)
    console = program_name(bindirs, "gimp-console", series)
    if console is None:
        return None
    try:
        return NativeGimp(series, console, program_name(bindirs, "gimp", series),
                          read_version([shutil.which(console)]))
    except GimpUnavailable:
        return None     # gimp-console-3 of another series
