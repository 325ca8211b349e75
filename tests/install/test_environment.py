"""The engine's interpreter: the environment install.py makes (or reuses) from the pinned
requirements, a --python without torch refused, and two prefixes sharing one --python."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from install_helpers import (REPO, env_for, load_module, make_home, make_venv, plugin_dirs, purelib, run_install,
                             snapshot)
from nst_installer import environments, places


def test_own_environment_is_made_or_reused_by_create_env(tmp_path, fixture_weights):
    """The default path (no --python): <prefix>/venv made by create_env, pip run on the pins.
    The venv is made beforehand with pip and a .pth line to the test venv's packages, so pip
    finds every pin already satisfied instead of installing 5 GB."""
    home = make_home(tmp_path)
    prefix = tmp_path / "prefix"
    python = make_venv(prefix / "venv", with_torch=True, with_pip=True)
    r = run_install(home, "--prefix", prefix, "--cpu", "--weights", fixture_weights, "--model", "vgg16",
                    "--device", "cpu")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"reusing the virtual environment {prefix / 'venv'}" in r.stdout
    assert f"-m pip install -r {REPO / 'requirements-engine.txt'}" in r.stdout
    assert "Requirement already satisfied: torch==" in r.stdout
    assert "stylisation: OK" in r.stdout
    cfg = json.loads((plugin_dirs(home)["3.0"] / "nst-config.json").read_text())
    assert cfg["engine_python"] == str(python) and cfg["engine_path"] == str(prefix / "engine")
    assert (purelib(python) / places.pth_name(prefix)).read_text() == f"{prefix / 'engine'}\n"
    manifest = json.loads((prefix / "install-manifest.json").read_text())
    venv_entry = [e for e in manifest["entries"] if e["path"] == str(prefix / "venv")]
    assert venv_entry == [{"path": str(prefix / "venv"), "kind": "tree", "created": False,
                           "what": "engine environment"}]
    r = run_install(home, "--prefix", prefix, "--uninstall")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (prefix / "venv").is_dir()  # it was there before install.py: kept
    assert not (purelib(python) / places.pth_name(prefix)).exists()
    assert not (prefix / "engine").exists() and not (prefix / "weights").exists()
    assert not plugin_dirs(home)["3.0"].exists()


def test_python_without_torch_is_refused_before_anything_happens(tmp_path, fixture_weights):
    bare = make_venv(tmp_path / "bare", with_torch=False)
    home = make_home(tmp_path)
    before = snapshot(home)
    r = run_install(home, "--python", bare, "--weights", fixture_weights, "--model", "vgg16")
    assert r.returncode == 1
    assert "lacks torch" in r.stderr and "pip install torch==" in r.stderr
    assert snapshot(home) == before


def test_pins_are_read_from_the_requirement_files():
    pins = environments.read_pins(REPO / "requirements-engine.txt", REPO / "requirements-test.txt")
    for dist in ("torch", "torchvision", "pillow", "numpy", "onnxruntime", "pytest", "scikit-image"):
        assert pins.get(dist), dist


def test_the_test_venv_matches_the_pins():
    run_py = load_module("nst_tests_run", REPO / "tests" / "run.py")
    pins = environments.read_pins(*run_py.REQUIREMENTS)
    assert run_py.venv_state(Path(sys.executable), pins)["problems"] == []


def test_two_prefixes_sharing_one_python_do_not_collide(tmp_path, engine_python, fixture_weights):
    home = make_home(tmp_path)
    prefixes = [tmp_path / "prefix-a", tmp_path / "prefix-b"]
    for prefix in prefixes:
        r = run_install(home, "--prefix", prefix, "--python", engine_python, "--weights", fixture_weights,
                        "--model", "vgg16", "--no-gimp", "--no-self-check")
        assert r.returncode == 0, r.stdout + r.stderr
    site = purelib(engine_python)
    pths = [site / places.pth_name(p) for p in prefixes]
    assert pths[0] != pths[1] and [p.read_text() for p in pths] == [f"{p / 'engine'}\n" for p in prefixes]
    # the prefix whose .pth loses (alphabetically later) still passes its full check
    shadowed = max(range(2), key=lambda i: pths[i].name)
    r = run_install(home, "--prefix", prefixes[shadowed], "--check", "--no-gimp")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "stylisation: OK" in r.stdout and "imports another install's" in r.stdout
    # uninstalling one leaves the other on the path
    r = run_install(home, "--prefix", prefixes[1 - shadowed], "--uninstall")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not pths[1 - shadowed].exists() and pths[shadowed].is_file()
    out = subprocess.run([str(engine_python), "-c", "import nst_engine; print(nst_engine.__file__)"],
                         capture_output=True, text=True, cwd="/", env=env_for(home))
    assert Path(out.stdout.strip()).parent == prefixes[shadowed] / "engine" / "nst_engine", out.stderr
    r = run_install(home, "--prefix", prefixes[shadowed], "--check", "--no-gimp", "--no-self-check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert run_install(home, "--prefix", prefixes[shadowed], "--uninstall").returncode == 0
