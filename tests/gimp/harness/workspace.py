"""A throwaway GIMP profile with the plug-in installed and its config pointing at the engine."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from . import REPO
from .discovery import find_gimp
from .series import GimpUnavailable

PLUGIN_SRC = REPO / "plugin" / "neural-style-transfer"
PLUGIN_NAME = "neural-style-transfer"


def venv_base_prefix(python: str) -> Path | None:
    """The prefix of the interpreter a venv was created from (pyvenv.cfg ``home``)."""
    exe = Path(python)
    for cfg in (exe.parent.parent / "pyvenv.cfg", exe.parent / "pyvenv.cfg"):
        if cfg.is_file():
            for line in cfg.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "home":
                    home = Path(value.strip())
                    # .../versions/3.11.7/bin -> .../versions/3.11.7
                    return (home.parent if home.name in ("bin", "Scripts") else home).resolve()
    return None


def install_plugin(profile: Path) -> Path:
    """Copy the plug-in and the contract it imports into ``profile/plug-ins/neural-style-transfer/``
    (the main file executable)."""
    dest = profile / "plug-ins" / PLUGIN_NAME
    dest.mkdir(parents=True, exist_ok=True)
    for src in PLUGIN_SRC.glob("*.py"):
        shutil.copy2(src, dest / src.name)
    # the contract the plug-in imports, next to it as install.py puts it
    shutil.copytree(REPO / "nst_contract", dest / "nst_contract", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    main = dest / f"{PLUGIN_NAME}.py"
    main.chmod(main.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return dest


class Workspace:
    """A throwaway GIMP profile (``GIMP3_DIRECTORY``) with the plug-in installed and its config
    written; ``binds`` are the host folders a chroot session must mount."""

    def __init__(self, engine_python: str, repo: Path, shared_images: Path, weights: Path,
                 model: str = "vgg16"):
        self.work = Path(tempfile.mkdtemp(prefix="nst-gimp-test-"))
        self.profile = self.work / "profile"
        self.plugin_dir = install_plugin(self.profile)
        self.plugin_tmp = self.work / "tmp"
        for d in ("tmp", "cache", "gimptmp", "home"):
            (self.work / d).mkdir()
        self.config = self.plugin_dir / "nst-config.json"
        self.config.write_text(json.dumps({
            "engine_python": engine_python, "engine_path": str(repo), "weights": str(weights),
            "model": model, "device": "cpu"}, indent=1))
        self.env = {"HOME": str(self.work / "home"), "GIMP3_DIRECTORY": str(self.profile),
                    "GIMP3_CACHEDIR": str(self.work / "cache"),
                    "GIMP3_TEMPDIR": str(self.work / "gimptmp"), "TMPDIR": str(self.plugin_tmp)}
        venv_dir = Path(engine_python).parent.parent
        self.binds = [self.work, Path(repo), Path(shared_images).parent, Path(weights).parent,
                      venv_dir]
        base = venv_base_prefix(engine_python)
        if base is not None:
            self.binds.append(base)

    def batch_args(self, script: Path, params: dict) -> list:
        """GIMP's arguments that run the batch ``script`` with ``params`` (NST_PARAMS: a JSON file)."""
        pfile = self.work / (script.stem + "-params.json")
        pfile.write_text(json.dumps(params))
        code = (f'import sys; sys.path.insert(0, "{script.parent}"); '  # for gimp_calls
                f'NST_PARAMS="{pfile}"; exec(open("{script}").read())')
        return ["-i", "--batch-interpreter=python-fu-eval", "-b", code, "--quit"]

    def remove(self):
        """Delete the work folder, unless something is still mounted under it (never
        delete through a bind mount)."""
        try:
            with open("/proc/self/mounts") as f:
                mounts = f.read()
        except OSError:
            mounts = ""
        if str(self.work) in mounts:
            sys.stderr.write(f"not deleting {self.work}: still mounted somewhere\n")
            return
        shutil.rmtree(self.work, ignore_errors=True)


def engine_python_default() -> str:
    return os.environ.get("NST_ENGINE_PYTHON",
                          os.path.expanduser("~/.cache/gimp-neural-style/test-venv/bin/python"))


def ready_workspace(repo_dir, shared_images, fixture_weights, series, model: str = "vgg16"):
    """(GIMP of ``series``, a fresh Workspace) for a test, after checking the engine runs.

    Skips the calling test when no GIMP of that series can run here; fails it when the engine cannot.
    """
    import pytest
    try:
        gimp = find_gimp(series)
    except GimpUnavailable as e:
        pytest.skip(str(e))
    engine_python = engine_python_default()
    if not os.path.exists(engine_python):
        pytest.fail(f"engine interpreter {engine_python} missing (set NST_ENGINE_PYTHON)")
    r = subprocess.run([engine_python, "-m", "nst_engine", "stylize", "--help"], cwd=repo_dir,
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.fail(f"the engine does not run ({engine_python} -m nst_engine stylize --help):\n"
                    f"{r.stderr[-2000:]}")
    return gimp, Workspace(engine_python, repo_dir, shared_images, fixture_weights, model)
