"""The engine's Python: a virtual environment made with pip from the pinned requirements, or an
interpreter given with --python, probed for what it has. Also makes tests/run.py's test venv.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

from nst_contract import process

from .common import CPU_INDEX, InstallError, say
from .places import venv_python


# Modules the engine imports, by distribution name (for --python checks and the test venv).
ENGINE_MODULES = {"torch": "torch", "torchvision": "torchvision", "pillow": "PIL", "numpy": "numpy"}


OPTIONAL_MODULES = {"onnxruntime": "onnxruntime", "onnx": "onnx", "tqdm": "tqdm"}


def read_pins(*files: Path) -> Dict[str, str]:
    """``name==version`` lines of requirement files, by lower-case distribution name."""
    pins: Dict[str, str] = {}
    for f in files:
        for line in Path(f).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)", line)
            if m:
                pins[m.group(1).lower()] = m.group(2)
    return pins


def engine_env(overrides: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment the installer runs the engine's interpreter in: the plug-in's (the
    contract's one list of stripped variables, nst_contract.process.engine_env), without
    NST_WEIGHTS (the config names the weights), then ``overrides``."""
    return process.engine_env(overrides, drop=("NST_WEIGHTS",))


def pip_env() -> Dict[str, str]:
    """engine_env for pip, plus the user's own SSL_CERT_FILE: pip downloads, and behind a proxy
    that re-signs TLS that file is what lets it (the plug-in strips it because a GIMP bundle
    sets its own; install.py runs in the user's shell)."""
    return engine_env({k: os.environ[k] for k in ("SSL_CERT_FILE",) if k in os.environ})


def url_reachable(url: str, timeout: float = 10.0) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except Exception:
        return False


def create_env(venv: Path, requirements: Sequence[Path], *, cpu: bool = False,
               base_python: Optional[str] = None, dry_run: bool = False,
               log: Callable[[str], None] = say) -> Path:
    """Create (or reuse) the virtual environment ``venv`` and pip-install the pinned requirements.

    pip's output goes straight to the terminal, so its download progress is visible. With
    ``cpu`` PyTorch's CPU-only wheel index is added (when it answers; otherwise the default
    indexes are used). Used by install.py for the engine and by tests/run.py for the test venv.
    Returns the environment's interpreter.
    """
    venv = Path(venv)
    python = venv_python(venv)
    base = base_python or sys.executable
    if not python_runs(python):
        if venv.exists():
            if not (venv / "pyvenv.cfg").exists():
                raise InstallError(f"{venv} exists and is not a virtual environment; "
                                   "move it away or choose another --prefix")
            log(f"recreating the broken virtual environment {venv}")
            if not dry_run:
                shutil.rmtree(venv)
        log(f"creating the virtual environment {venv} (with {base})")
        if not dry_run:
            venv.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([base, "-m", "venv", str(venv)], check=True)
    else:
        log(f"reusing the virtual environment {venv}")
        if not dry_run and subprocess.run([str(python), "-m", "pip", "--version"],
                                          capture_output=True).returncode != 0:
            log("it has no pip: adding it (ensurepip)")
            subprocess.run([str(python), "-m", "ensurepip", "--default-pip"], check=True)
    cmd = [str(python), "-m", "pip", "install"]
    for r in requirements:
        cmd += ["-r", str(r)]
    if cpu:
        if dry_run or url_reachable(CPU_INDEX + "/torch/"):
            cmd += ["--extra-index-url", CPU_INDEX]
        else:
            log(f"PyTorch's CPU-only index {CPU_INDEX} does not answer; using the default indexes")
    log("$ " + " ".join(cmd))
    if not dry_run:
        done = subprocess.run(cmd, env=pip_env())
        if done.returncode != 0:
            raise InstallError(
                f"pip could not install the engine's packages (exit {done.returncode}); see pip's "
                "message above. Offline? Connect and run the same command again (pip resumes). "
                "torch needs a Python version it has wheels for (3.10-3.13 are safe).")
    return python


MIN_ENGINE_PYTHON = (3, 11)  # the pinned numpy/pillow need 3.11+ (torch 2.14: 3.10+)


def engine_base_python() -> str:
    """The interpreter to build the engine's environment with: this one when it is new enough,
    else the newest python3.x on PATH that is."""
    if sys.version_info[:2] >= MIN_ENGINE_PYTHON:
        return sys.executable
    for name in ("python3.14", "python3.13", "python3.12", "python3.11", "python3"):
        exe = shutil.which(name)
        if not exe:
            continue
        try:
            out = subprocess.run([exe, "-c", "import sys; print(*sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=30).stdout.split()
        except (OSError, subprocess.SubprocessError):
            continue
        if len(out) == 2 and tuple(map(int, out)) >= MIN_ENGINE_PYTHON:
            return exe
    want = ".".join(map(str, MIN_ENGINE_PYTHON))
    raise InstallError(
        f"the engine's packages need Python {want} or newer, and this is Python "
        f"{sys.version.split()[0]} with no newer python3.x on PATH. Install one (for example "
        f"'sudo apt install python3.11', or from python.org) and run install.py with it, or pass "
        "--python PATH of an interpreter that already has torch.")


def python_runs(python: Path) -> bool:
    if not Path(python).exists():
        return False
    try:
        return subprocess.run([str(python), "-c", "import sys"], capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


PROBE = r"""
import json, site, sys, sysconfig
info = {"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3],
        "purelib": sysconfig.get_paths()["purelib"], "usersite": None, "modules": {}}
try:
    if site.ENABLE_USER_SITE:
        info["usersite"] = site.getusersitepackages()
except Exception:
    pass
import importlib.metadata, importlib.util
wanted, optional = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
for dist, mod in wanted.items():
    try:
        if dist in optional:  # found, not imported: importing onnxruntime writes into ~/.cache
            info["modules"][dist] = importlib.metadata.version(dist) if importlib.util.find_spec(mod) else None
        else:
            m = __import__(mod)
            info["modules"][dist] = str(getattr(m, "__version__", "?"))
    except Exception as exc:
        info["modules"][dist] = None
try:
    import importlib.util
    spec = importlib.util.find_spec("nst_engine")
    info["nst_engine"] = spec.origin if spec else None
except Exception:
    info["nst_engine"] = None
print(json.dumps(info))
"""


def probe_python(python: Path, modules: Optional[Dict[str, str]] = None) -> dict:
    """What an interpreter is: version, site-packages, versions of the engine's modules."""
    modules = modules if modules is not None else {**ENGINE_MODULES, **OPTIONAL_MODULES}
    try:
        done = subprocess.run([str(python), "-c", PROBE, json.dumps(modules), json.dumps(list(OPTIONAL_MODULES))],
                              capture_output=True,
                              text=True, timeout=300, env=engine_env(), cwd=tempfile.gettempdir())
    except (OSError, subprocess.SubprocessError) as exc:
        raise InstallError(f"cannot run {python}: {exc}") from exc
    if done.returncode != 0:
        raise InstallError(f"{python} does not run as Python: {done.stderr.strip()[-400:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
