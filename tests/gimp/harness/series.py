"""Which GIMP series the tests run against, and how to tell a program's series.

Standard library only: tests/run.py imports this package before the test venv exists.
"""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

# The GIMP series the real-GIMP tests run against: series -> (variable naming its root, default
# root). 3.0 comes from Debian 13 (trixie), 3.2 from Debian forky (provision_root.sh).
SERIES = {"3.0": ("NST_GIMP3_ROOT", "/var/cache/nst-gimp3-root"),
          "3.2": ("NST_GIMP32_ROOT", "/var/cache/nst-gimp32-root")}
READY_STAMP = ".nst-gimp3-ready"
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class GimpUnavailable(Exception):
    """No GIMP 3 can be run here (the reason is the message)."""


def selected_series(choice: str | None = None) -> list[str]:
    """The series to test: ``choice`` (pytest's --gimp-series), else ``NST_GIMP_SERIES``, as a
    comma-separated list ("3.2", "3.0,3.2"); all of ``SERIES`` when neither is given."""
    text = choice or os.environ.get("NST_GIMP_SERIES") or ""
    chosen = [s.strip() for s in text.split(",") if s.strip()] or list(SERIES)
    unknown = [s for s in chosen if s not in SERIES]
    if unknown:
        raise ValueError(f"unknown GIMP series {', '.join(unknown)} (known: {', '.join(SERIES)})")
    return chosen


def series_of(version: str) -> str:
    """"3.2.6" -> "3.2": the series a GIMP version belongs to."""
    return ".".join(version.split(".")[:2])


def series_root(series: str) -> Path:
    var, default = SERIES[series]
    return Path(os.environ.get(var, default))


def program_name(bindirs, stem: str, series: str) -> str | None:
    """``stem-<series>`` (3.0's and 3.2's own names), else ``stem-3`` (the session checks its
    version), found in ``bindirs``; its name, or None."""
    for name in (f"{stem}-{series}", f"{stem}-3"):
        if any((Path(d) / name).exists() for d in bindirs):
            return name
    return None


def root_ready(root: Path, series: str) -> bool:
    """The series' root is provisioned (provision_root.sh's stamp and GIMP's console program)."""
    return (root / READY_STAMP).exists() and program_name([root / "usr/bin"], "gimp-console", series) is not None


def read_version(cmd: list) -> str:
    """GIMP's version from ``<program> --version`` ("... version 3.2.6")."""
    r = subprocess.run(cmd + ["--version"], capture_output=True, text=True, timeout=120)
    words = r.stdout.split()
    if r.returncode != 0 or not words:
        raise GimpUnavailable(f"{shlex.join(cmd)} --version failed: {(r.stderr or r.stdout)[-500:]}")
    return words[-1]
