"""Find a runnable GIMP of a series: native on PATH, else the series' Debian root."""
from __future__ import annotations

import os

from .chroot import ChrootGimp, provision
from .series import GimpUnavailable, root_ready, series_root
from .session import native_gimp

DIALOG_EXTRAS = ("Xvfb", "xdotool", "xwd")


def find_gimp(series: str, provision_missing: bool = True):
    """A runnable GIMP of ``series`` ("3.0", "3.2"): native on PATH, else the series' root
    (provisioned, or given the dialog tests' extras, when missing).

    Raises GimpUnavailable when neither is possible (not root and no such GIMP)."""
    native = native_gimp(series)
    if native is not None:
        return native
    root = series_root(series)
    if os.geteuid() != 0:
        raise GimpUnavailable(f"no gimp-console-{series} on PATH and not root (the Debian root with "
                              f"GIMP {series} needs chroot/mount): GIMP {series} plug-in tests skipped")
    if os.environ.get("NST_SKIP_GIMP") == "1":
        provision_missing = False      # tests/run.py: use what is there, provision nothing
    ready = root_ready(root, series)
    extras = all((root / "usr/bin" / x).exists() for x in DIALOG_EXTRAS)
    if not ready and not provision_missing:
        raise GimpUnavailable(f"no GIMP {series} root at {root} (not provisioned: NST_SKIP_GIMP=1)")
    if provision_missing and not (ready and extras):
        r = provision(series, root)   # builds the root, or adds the dialog tests' extras
        if not root_ready(root, series):
            raise RuntimeError(f"provisioning the GIMP {series} root failed (exit {r.returncode}):\n"
                               f"{r.stderr[-3000:]}")
    return ChrootGimp(series, root)
