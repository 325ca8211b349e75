"""GIMP of a series inside its Debian root: provisioning, locking, and the bind mounts.

The root is entered with ``chroot`` in a clean environment. The engine's virtual environment,
the interpreter it was built from, the checkout, the shared folder and a per-run work folder
are bind-mounted at their host paths, so every path means the same inside and out; everything
mounted is unmounted again, in reverse order, in ``finally``.
"""
from __future__ import annotations

import contextlib
import fcntl
import subprocess
from pathlib import Path

from . import GIMP_TESTS
from .series import CLEAN_PATH, GimpUnavailable, program_name, read_version
from .session import Gimp, Session

SYSTEM_FOLDERS = ("/", "/usr", "/bin", "/lib", "/etc", "/proc", "/dev", "/sys")


def _is_mountpoint(path: Path) -> bool:
    return subprocess.run(["mountpoint", "-q", str(path)]).returncode == 0


class ChrootGimp(Gimp):
    """GIMP of the series inside its provisioned Debian root."""

    kind = "chroot"

    def __init__(self, series: str, root: Path):
        self.root = root
        bindir = [root / "usr/bin"]
        console = program_name(bindir, "gimp-console", series)
        version = read_version(["chroot", str(root), "env", "-i", f"PATH={CLEAN_PATH}", console])
        super().__init__(series, console, program_name(bindir, "gimp", series), version)

    def _bind(self, host: Path, mounted: list, created: list):
        target = self.root / str(host).lstrip("/")
        if not target.exists():
            created.append(target)
        if host.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch(exist_ok=True)
        subprocess.run(["mount", "--bind", str(host), str(target)], check=True)
        mounted.append(target)

    def _bind_all(self, binds, mounted: list, created: list):
        for m in ("proc", "dev", "sys"):
            if not _is_mountpoint(self.root / m):
                self._bind(Path("/" + m), mounted, created)
        seen = set()
        for host in binds:
            host = Path(host).resolve()
            if host in seen or not host.exists():
                continue
            seen.add(host)
            if str(host) in SYSTEM_FOLDERS:
                raise GimpUnavailable(f"refusing to bind-mount system folder {host} into the GIMP root")
            self._bind(host, mounted, created)

    @contextlib.contextmanager
    def session(self, binds=()):
        """Mount /proc, /dev, /sys and ``binds`` (host paths) into the root for the duration.

        A lock file serialises sessions on the same root (two test runs at once would
        otherwise unmount each other's /proc)."""
        with root_lock(self.root):
            mounted: list[Path] = []
            created: list[Path] = []
            try:
                self._bind_all(binds, mounted, created)
                yield Session(["chroot", str(self.root)],
                              {"PATH": CLEAN_PATH, "HOME": "/root", "LANG": "C.UTF-8"}, self)
            finally:
                for target in reversed(mounted):
                    r = subprocess.run(["umount", str(target)], capture_output=True)
                    if r.returncode != 0:
                        subprocess.run(["umount", "-l", str(target)], capture_output=True)
                # remove the mount points this session made, when empty and unmounted
                for target in reversed(created):
                    if not _is_mountpoint(target):
                        try:
                            target.rmdir() if target.is_dir() else target.unlink()
                        except OSError:
                            pass


@contextlib.contextmanager
def root_lock(root: Path):
    """The lock file beside a root: held by provisioning and by every session using the root."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / (root.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def provision(series: str, root: Path, capture: bool = True) -> subprocess.CompletedProcess:
    """Run provision_root.sh for ``series`` under the root's lock (it reuses a valid root and adds
    the dialog tests' extras when missing). ``capture=False`` lets its messages through."""
    with root_lock(root):
        return subprocess.run(["bash", str(GIMP_TESTS / "provision_root.sh"), series, str(root)], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE if capture else None,
                              timeout=3600)
