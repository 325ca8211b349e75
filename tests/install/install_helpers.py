"""What the install tests share: a temporary HOME with fake GIMP profiles, install.py run in it,
snapshots of folders, and an engine interpreter that sees the test venv's packages.

No 5 GB environment is built: ``make_venv(with_torch=True)`` is a bare virtual environment (no
pip) that sees the test venv's packages (torch, ...) through one .pth line, so install.py may
write its own .pth into it without touching the shared test venv.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "install.py"
PLUGIN_SRC = REPO / "plugin" / "neural-style-transfer"
PLUGIN = "neural-style-transfer"

sys.path.insert(0, str(REPO))   # install.py's parts (nst_installer), as install.py itself does
from nst_installer import places  # noqa: E402


def purelib(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def make_venv(where: Path, with_torch: bool, with_pip: bool = False) -> Path:
    subprocess.run([sys.executable, "-m", "venv", *([] if with_pip else ["--without-pip"]), str(where)],
                   check=True, capture_output=True)
    python = places.venv_python(where)
    if with_torch:  # see the test venv's packages without being it
        parent = purelib(Path(sys.executable))
        (purelib(python) / "nst_test_parent.pth").write_text(f"{parent}\n")
    return python


def make_home(root: Path, profiles=("3.0", "3.2"), flatpak=True) -> Path:
    home = root / "home"
    gimp = home / ".config" / "GIMP"
    for v in profiles:
        (gimp / v).mkdir(parents=True)
        (gimp / v / "gimprc").write_text("(theme \"Dark\")\n")
    if profiles:
        # things install.py must not touch: another plug-in, a GIMP 2.10 profile
        other = gimp / profiles[0] / "plug-ins" / "other-plugin"
        other.mkdir(parents=True)
        (other / "other-plugin.py").write_text("# someone else's plug-in\n")
        (gimp / "2.10" / "plug-ins").mkdir(parents=True)
    if flatpak:
        (home / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP" / "3.0").mkdir(parents=True)
    return home


def env_for(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "APPDATA", "LOCALAPPDATA",
                        "GIMP3_DIRECTORY", "NST_WEIGHTS", "TORCH_HOME", "NST_PLUGIN_CONFIG", "PYTHONPATH")}
    env["HOME"] = str(home)
    return env


def run_install(home: Path, *args, timeout: float = 900, env: Optional[dict] = None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(INSTALL), *map(str, args)], capture_output=True, text=True,
                          env={**env_for(home), **(env or {})}, cwd=str(home.parent), timeout=timeout)
    print(f"$ install.py {' '.join(map(str, args))}\n--- exit {done.returncode}\n{done.stdout}\n--- stderr\n{done.stderr}")
    return done


def snapshot(root: Path, skip=(".cache",)) -> dict:
    """Every path under root: type, permission bits and content hash (size for big files).
    ``skip``: top-level folders left out (~/.cache holds what torch/onnxruntime write at run time)."""
    out = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d not in skip]
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                info = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                info = ("dir", stat.S_IMODE(st.st_mode))
            elif st.st_size > 1 << 20:
                info = ("file", stat.S_IMODE(st.st_mode), st.st_size)
            else:
                info = ("file", stat.S_IMODE(st.st_mode), hashlib.sha256(p.read_bytes()).hexdigest())
            out[str(p.relative_to(root))] = info
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def plugin_dirs(home: Path) -> dict:
    return {
        "3.0": home / ".config/GIMP/3.0/plug-ins" / PLUGIN,
        "3.2": home / ".config/GIMP/3.2/plug-ins" / PLUGIN,
        "flatpak 3.0": home / ".var/app/org.gimp.GIMP/config/GIMP/3.0/plug-ins" / PLUGIN,
    }


def load_module(name: str, path: Path):
    """A module from a file that is not on the path (the plug-in's, tests/run.py)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module
