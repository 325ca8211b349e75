"""The state one install.py run shares across its steps, and the file operations that honour
--dry-run and record what they create in the manifest.
"""
from __future__ import annotations

import argparse
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from . import prefix_lock
from .common import MANIFEST_NAME, say, warn
from .manifest import Manifest
from .places import user_data_dir


class Session:
    """The run's arguments, prefix and manifest, and the file operations every step uses: each step
    (weights_step, engine_step, plugin_step, ... : plain functions) takes the one Session of the
    run, so the steps record into the same manifest and honour the same --dry-run."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.dry = args.dry_run
        self.prefix = Path(args.prefix).expanduser().resolve() if args.prefix else user_data_dir()
        self.manifest = Manifest(self.prefix / MANIFEST_NAME)
        self.report: List[Tuple[str, str]] = []
        self.base_python: Optional[str] = None  # what makes the engine's environment
        self.weights_info: Dict[str, str] = {}  # weights_source, weights_sha256: config and manifest
        self.made_for_lock: List[Path] = []  # the prefix (and parents) made to lock it: recorded at the first save

    @contextmanager
    def locked(self) -> Iterator[None]:
        """This run alone on the prefix (install, uninstall; prefix_lock.py), the manifest read
        once it is; folders made for the lock are removed again when nothing was saved there."""
        if self.dry:
            yield
            return

        def waiting() -> None:
            say(f"another install.py is changing {self.prefix}; waiting for it to finish (Ctrl+C stops this one) ...")
        with prefix_lock.locked(self.prefix, waiting) as made:
            self.made_for_lock = made
            self.manifest = Manifest(self.manifest.path)  # as the other run left it
            try:
                yield
            finally:
                if not self.manifest.path.exists():
                    prefix_lock.remove_empty(made)

    def repair_manifest(self) -> None:
        """Install with a damaged manifest: what is valid of it is kept (the next save writes only
        that); an unreadable one is kept beside it for reference and a new one begun."""
        m = self.manifest
        for problem in m.problems:
            warn(f"{m.path}: {problem}")
        if not m.unreadable or self.dry:
            return
        kept = m.path.with_name(m.path.name + ".damaged")
        os.replace(m.path, kept)
        warn(f"the manifest {m.path} could not be read: kept as {kept}; this run writes a new one (folders "
             "that were there before this run are recorded as such: --uninstall keeps them)")
        self.manifest = Manifest(m.path)
        self.manifest.add(kept, "file", True, "the damaged manifest, kept for reference")

    # -- helpers that honour --dry-run and record what they create
    def save(self) -> None:
        """Write the manifest (after every step, so an interrupted install can be undone)."""
        if self.dry:
            return
        for d in self.made_for_lock:
            self.manifest.add(d, "dir", True, "install folder" if d == self.prefix else "folder")
        self.mkdir(self.prefix, "install folder")
        self.manifest.add(self.manifest.path, "file", True, "this manifest")
        self.manifest.save()

    def mkdir(self, path: Path, what: str, tree: bool = False) -> None:
        """Create ``path`` (and missing parents up to an existing folder), recording new folders;
        ``tree``: everything that will be inside ``path`` is ours."""
        missing = []
        p = Path(path)
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            if self.dry:
                say(f"would create {d}")
            else:
                d.mkdir()
            last = d == Path(path)
            self.manifest.add(d, "tree" if tree and last else "dir", True, what if last else "folder")
        if tree and not missing:
            self.manifest.add(Path(path), "tree", False, what)

    def write_file(self, path: Path, data: bytes, what: str, mode: int = 0o644) -> None:
        existed = path.exists()
        if self.dry:
            say(f"would write {path}" + (" (replacing it)" if existed else ""))
        else:
            tmp = path.with_name(path.name + ".nst-tmp")
            tmp.write_bytes(data)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        self.manifest.add(path, "file", not existed, what)

    def copy_package(self, src: Path, folder: Path, what: str) -> None:
        """A copy of the package ``src`` in ``folder``, replaced whole (no stale module survives)."""
        target = folder / src.name
        if self.dry:
            say(f"would copy {src} to {target}")
        else:
            new = folder / (src.name + ".new")
            if new.exists():
                shutil.rmtree(new)
            shutil.copytree(src, new, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            if target.is_symlink():  # a link put in place of our copy: replaced, its target untouched
                target.unlink()
            elif target.exists():
                shutil.rmtree(target)
            os.replace(new, target)
        # the package folder is wholly ours (replaced on every run); the folder holding it is not
        self.manifest.add(target, "tree", True, what)
