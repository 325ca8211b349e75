"""One full install.py run, end to end, in a temporary HOME with fake GIMP 3.0, 3.2 and Flatpak 3.0
profiles, and what it leaves: files, configs, manifest, --check, a second run, --uninstall.

``--python`` is a bare virtual environment that sees the test venv's packages
(install_helpers.make_venv); ``--weights`` is the shared VGG16 fixture (``--model vgg16``). The
self-check runs the real engine (doctor + a tiny stylisation through the plug-in's command line).
The other paths (environment, weights, profiles, downloads, dry run, uninstall, the lock) have
their own files.

The tests of the ``installed`` fixture run in file order: look, --check, damage + second run,
--uninstall.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import types
from pathlib import Path

import pytest

from install_helpers import (PLUGIN, PLUGIN_SRC, REPO, env_for, load_module, make_home, plugin_dirs, purelib,
                             run_install, sha256, snapshot)
from nst_installer import places


@pytest.fixture(scope="module")
def installed(tmp_path_factory, engine_python, fixture_weights):
    root = tmp_path_factory.mktemp("install")
    home = make_home(root)
    state = types.SimpleNamespace(home=home, python=engine_python, weights=fixture_weights,
                                  prefix=home / ".local/share/gimp-neural-style",
                                  site=purelib(engine_python))
    state.before_home = snapshot(home)
    state.before_site = snapshot(state.site)
    state.args = ["--python", engine_python, "--weights", fixture_weights, "--model", "vgg16", "--device", "cpu"]
    state.first = run_install(home, *state.args)
    state.after_first = snapshot(home)
    return state


def test_install_succeeds_with_self_check(installed):
    r = installed.first
    assert r.returncode == 0, r.stdout + r.stderr
    assert "doctor: OK" in r.stdout
    assert "stylisation: OK" in r.stdout
    assert "after reporting 'done'" not in r.stdout  # the engine exited 0 too, not just wrote its result
    assert f"sha256 {sha256(installed.weights)}" in r.stdout  # --weights prints the checksum
    assert "To undo:" in r.stdout and "--uninstall" in r.stdout
    for where in plugin_dirs(installed.home).values():
        assert str(where) in r.stdout  # says what went where


def test_plugin_files_and_run_bits_in_every_gimp3_profile(installed):
    sources = sorted(p.name for p in PLUGIN_SRC.iterdir() if p.is_file() and p.suffix == ".py")
    assert {f"{PLUGIN}.py", "nst_client.py"} <= set(sources)
    for label, d in plugin_dirs(installed.home).items():
        assert sorted(p.name for p in d.iterdir()) == sorted(sources + ["nst-config.json", "nst_contract"]), label
        # the contract the plug-in imports, next to it (issue 12), the same as the engine's copy
        contract = sorted(p.name for p in (REPO / "nst_contract").glob("*.py"))
        assert sorted(p.name for p in (d / "nst_contract").iterdir()) == contract, label
        for name in sources:
            assert (d / name).read_bytes() == (PLUGIN_SRC / name).read_bytes(), (label, name)
        mode = (d / f"{PLUGIN}.py").stat().st_mode
        assert mode & stat.S_IXUSR and mode & stat.S_IXGRP and mode & stat.S_IXOTH, label
        assert not (d / "nst_client.py").stat().st_mode & stat.S_IXUSR, label


def test_config_contents(installed):
    prefix = installed.prefix
    weights = prefix / "weights" / installed.weights.name
    assert sha256(weights) == sha256(installed.weights)
    for label, d in plugin_dirs(installed.home).items():
        cfg = json.loads((d / "nst-config.json").read_text())
        expected_python = prefix / "flatpak-host-python" if label.startswith("flatpak") else installed.python
        assert cfg == {"engine_python": str(expected_python), "engine_path": str(prefix / "engine"),
                       "weights": str(weights), "model": "vgg16", "device": "cpu",
                       "weights_source": f"the file given with --weights ({installed.weights})",
                       "weights_sha256": sha256(installed.weights)}, label


def test_config_is_accepted_by_the_plugins_own_loader(installed):
    sys.path.insert(0, str(PLUGIN_SRC))   # as GIMP runs it: the plug-in's folder on the path
    client = load_module("nst_config_under_test", PLUGIN_SRC / "nst_config.py")
    d = plugin_dirs(installed.home)["3.2"]
    cfg = client.load_config(str(d / "nst-config.json"), environ={})
    assert cfg.engine_python == str(installed.python)
    assert cfg.weights == str(installed.prefix / "weights" / installed.weights.name)
    assert cfg.model == "vgg16" and cfg.device == "cpu"


def test_flatpak_profile_starts_the_engine_on_the_host(installed):
    wrapper = installed.prefix / "flatpak-host-python"
    assert os.access(wrapper, os.X_OK)
    text = wrapper.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert f'flatpak-spawn --host --watch-bus --env=PYTHONUNBUFFERED=1 {installed.python} "$@"' in text
    assert "flatpak override --user --talk-name=org.freedesktop.Flatpak org.gimp.GIMP" in installed.first.stdout


def test_engine_runs_from_the_installed_copy(installed):
    pth = installed.site / places.pth_name(installed.prefix)
    assert pth.read_text() == f"{installed.prefix / 'engine'}\n"
    copy = installed.prefix / "engine" / "nst_engine"
    assert sorted(p.name for p in copy.glob("*.py")) == sorted(p.name for p in (REPO / "nst_engine").glob("*.py"))
    contract = installed.prefix / "engine" / "nst_contract"
    assert sorted(p.name for p in contract.glob("*.py")) == sorted(p.name for p in (REPO / "nst_contract").glob("*.py"))
    out = subprocess.run([str(installed.python), "-c", "import nst_engine; print(nst_engine.__file__)"],
                         capture_output=True, text=True, cwd="/", env=env_for(installed.home))
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).parent == copy


def test_nothing_else_touched(installed):
    before, after = installed.before_home, installed.after_first
    for path, info in before.items():
        assert after.get(path) == info, path  # gimprc, the other plug-in, GIMP 2.10: unchanged
    new = sorted(p for p in after if p not in before)
    allowed = (".local", ".config/GIMP/3.0/plug-ins/" + PLUGIN, ".config/GIMP/3.2/plug-ins",
               ".var/app/org.gimp.GIMP/config/GIMP/3.0/plug-ins")
    assert all(p.startswith(allowed) for p in new), [p for p in new if not p.startswith(allowed)]
    assert not any(p.startswith(".config/GIMP/2.10/plug-ins/") for p in after)
    site_new = set(snapshot(installed.site)) - set(installed.before_site)
    assert site_new == {places.pth_name(installed.prefix)}


def test_manifest_lists_what_was_installed(installed):
    manifest = json.loads((installed.prefix / "install-manifest.json").read_text())
    paths = {e["path"]: e for e in manifest["entries"]}
    for d in plugin_dirs(installed.home).values():
        assert paths[str(d)]["kind"] == "tree" and paths[str(d)]["created"]
        assert str(d / "nst-config.json") in paths
    assert str(installed.site / places.pth_name(installed.prefix)) in paths
    assert str(installed.home / ".config/GIMP/3.0/plug-ins") not in paths  # it was there before
    assert paths[str(installed.home / ".config/GIMP/3.2/plug-ins")] == {
        "path": str(installed.home / ".config/GIMP/3.2/plug-ins"), "kind": "dir", "created": True, "what": "folder"}
    assert manifest["model"] == "vgg16" and manifest["engine_python"] == str(installed.python)


def test_check_reports_ok(installed):
    r = run_install(installed.home, "--check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "doctor: OK" in r.stdout and "stylisation: OK" in r.stdout
    assert r.stdout.rstrip().endswith("OK")
    assert snapshot(installed.home) == installed.after_first  # report only


def test_check_finds_damage_and_a_second_run_repairs_it(installed):
    main = plugin_dirs(installed.home)["3.2"] / f"{PLUGIN}.py"
    main.chmod(0o644)  # what makes the menu entry vanish
    r = run_install(installed.home, "--check", "--no-self-check")
    assert r.returncode == 1
    assert f"[NOT EXECUTABLE] {main}" in r.stdout
    # a new GIMP version's profile appears: --check says it lacks the plug-in
    new_profile = installed.home / ".config/GIMP/3.4"
    new_profile.mkdir()
    try:
        r = run_install(installed.home, "--check", "--no-self-check")
        assert f"[NOT INSTALLED] GIMP 3.4 profile {new_profile}" in r.stdout
    finally:
        new_profile.rmdir()
    second = run_install(installed.home, *installed.args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "stylisation: OK" in second.stdout
    assert snapshot(installed.home) == installed.after_first  # same files, same bits, same content


def test_uninstall_leaves_no_trace(installed):
    r = run_install(installed.home, "--uninstall")
    assert r.returncode == 0, r.stdout + r.stderr
    assert snapshot(installed.home) == installed.before_home
    assert snapshot(installed.site) == installed.before_site
    again = run_install(installed.home, "--uninstall")
    assert again.returncode == 0 and "nothing to uninstall" in again.stdout
