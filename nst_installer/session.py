"""The state one install.py run shares across its steps, and the file operations that honour
--dry-run and record what they create in the manifest.
"""
from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .common import MANIFEST_NAME, say
from .manifest import Manifest
from .places import user_data_dir


class Session():
    """The run's arguments, prefix and manifest; every step below is a method of one Installer that
    inherits this, so the steps record into the same manifest and honour the same --dry-run."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.dry = args.dry_run
        self.prefix = Path(args.prefix).expanduser().resolve() if args.prefix else user_data_dir()
        self.manifest = Manifest(self.prefix / MANIFEST_NAME)
        self.report: List[Tuple[str, str]] = []
        self.base_python: Optional[str] = None  # what makes the engine's environment
        self.weights_info: Dict[str, str] = {}  # weights_source, weights_sha256: config and manifest

    # -- helpers that honour --dry-run and record what they create
    def save(self) -> None:
        """Write the manifest (after every step, so an interrupted install can be undone)."""
        if self.dry:
            return
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
            if target.exists():
                shutil.rmtree(target)
            os.replace(new, target)
        # the package folder is wholly ours (replaced on every run); the folder holding it is not
        self.manifest.add(target, "tree", True, what)
