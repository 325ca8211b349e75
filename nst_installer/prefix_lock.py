"""One install.py at a time per prefix: an exclusive lock on the prefix folder while a run changes it.

Two runs writing one prefix at once would lose each other's manifest entries (and which folders
each made); so install and uninstall lock the prefix folder itself (``flock`` on the folder: no
lock file to clean up or to leave behind), and a second run waits, saying so. The prefix is made
for the lock when it is missing; the run records it (install) or removes it again when the run
wrote nothing there. Windows has no ``flock``: there the runs are not serialised.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, List

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


def make_folders(path: Path) -> List[Path]:
    """Create ``path`` and its missing parents; the ones this call made, outermost first (a
    folder another run made meanwhile is not counted)."""
    missing = []
    p = Path(path)
    while not p.exists():
        missing.append(p)
        p = p.parent
    made = []
    for d in reversed(missing):
        try:
            d.mkdir()
            made.append(d)
        except FileExistsError:
            pass
    return made


@contextmanager
def locked(prefix: Path, on_wait: Callable[[], None]) -> Iterator[List[Path]]:
    """Hold the prefix's lock while the body runs; yields the folders made for it. ``on_wait`` is
    called once when another run holds the lock (this one then waits for it)."""
    made: List[Path] = []
    fd = None
    waited = False
    try:
        while fcntl is not None:
            made += make_folders(prefix)
            fd = os.open(prefix, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waited:
                    on_wait()
                    waited = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            if same_folder(fd, prefix):
                break
            os.close(fd)  # the other run removed the prefix (uninstall) meanwhile: lock the new one
            fd = None
        yield made
    finally:
        if fd is not None:
            os.close(fd)


def same_folder(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def remove_empty(folders: List[Path]) -> None:
    """Remove the folders a run made and left empty, innermost first."""
    for d in sorted(folders, key=lambda p: -len(p.parts)):
        try:
            d.rmdir()
        except OSError:
            pass
