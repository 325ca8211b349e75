"""Steps 2 and 3, the engine: its interpreter (a new environment, or --python checked) and its code
(a copy of nst_engine, or the checkout with --editable) put on that interpreter's path by a .pth.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .common import ENGINE_PACKAGES, ENGINE_REQUIREMENTS, InstallError, PTH_NAME, REPO, say, warn
from .environments import ENGINE_MODULES, OPTIONAL_MODULES, create_env, probe_python, read_pins
from .places import pth_name
from .session import Session


def given_python(s: Session) -> Path:
    a = s.args
    python = Path(a.python).expanduser()
    if not python.is_absolute():
        python = Path(shutil.which(str(python)) or python).absolute()
    if not python.exists():
        raise InstallError(f"--python {a.python}: no such file")
    say(f"engine interpreter: {python} (given with --python)")
    return python


def make_env(s: Session) -> Path:
    venv = s.prefix / "venv"
    s.manifest.add(venv, "tree", not venv.exists(), "engine environment")
    s.save()  # recorded before pip runs, so that a failed install can be undone too
    return create_env(venv, [ENGINE_REQUIREMENTS], cpu=s.args.cpu, dry_run=s.dry,
                      base_python=s.base_python)


def check_python(s: Session, python: Path) -> dict:
    """The interpreter's facts; stops when it lacks a module the engine needs."""
    if s.dry and not python.exists():
        return {}
    info = probe_python(python)
    missing = [d for d in ENGINE_MODULES if not info["modules"].get(d)]
    if missing:
        pins = read_pins(ENGINE_REQUIREMENTS)
        need = " ".join(f"{d}=={pins[d]}" if d in pins else d for d in missing)
        raise InstallError(
            f"{python} lacks {', '.join(missing)}. Install them into it "
            f"({python} -m pip install {need}), or leave out --python and let install.py "
            "create its own environment.")
    absent = [d for d in OPTIONAL_MODULES if not info["modules"].get(d)]
    if absent:
        warn(f"{python} lacks {', '.join(absent)}: the engine's ONNX export and progress bar "
             "need them; stylisation works without")
    return info


def engine_code(s: Session, python: Path, info: dict) -> Path:
    """Copy nst_engine under the prefix (or use the checkout) and put it on ``python``'s path."""
    if not info:  # dry run without an environment yet
        root = REPO if s.args.editable else s.prefix / "engine"
        say(f"would put {root} on {python}'s path with {pth_name(s.prefix)}")
        return root
    if s.args.editable:
        root = REPO
    else:
        root = s.prefix / "engine"
        s.mkdir(root, "engine code", tree=True)
        for src, what in ENGINE_PACKAGES:
            s.copy_package(src, root, what)
    write_pth(s, python, info, root)
    return root


def write_pth(s: Session, python: Path, info: dict, root: Path) -> None:
    """The .pth naming ``root``: in the interpreter's site-packages, else its user site."""
    for site_dir in (info["purelib"], info.get("usersite")):
        if not site_dir:
            continue
        site_dir = Path(site_dir)
        try:
            s.mkdir(site_dir, "user site-packages")
            if not s.dry and not os.access(site_dir, os.W_OK):
                continue
            s.write_file(site_dir / pth_name(s.prefix), (str(root) + "\n").encode(),
                         "puts the engine on the interpreter's path")
            drop_shared_pth(s, site_dir, root)
            return
        except OSError:
            continue
    raise InstallError(f"cannot write {pth_name(s.prefix)} into {info['purelib']} or the user "
                       f"site-packages of {python}; run install.py as a user who can, "
                       "or leave out --python")


def drop_shared_pth(s: Session, site_dir: Path, root: Path) -> None:
    """An earlier install.py wrote one shared .pth for every prefix: remove ours (when it names
    this engine) so that uninstalling this prefix cannot take another prefix's off the path."""
    old = s.manifest.find(site_dir / PTH_NAME)
    if not old:
        return
    path = Path(old["path"])
    try:
        ours = path.read_text().strip() == str(root)
    except OSError:
        ours = False
    if ours and not s.dry:
        path.unlink()
    if ours or not path.exists():
        s.manifest.entries.remove(old)
