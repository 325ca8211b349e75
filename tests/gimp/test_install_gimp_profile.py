"""install.py against a real GIMP profile, in each GIMP series (3.0, 3.2: the series in the test id).

GIMP itself makes the profile: ``gimp-console-<series>`` runs once in a throwaway HOME (no
GIMP3_DIRECTORY), which creates ``~/.config/GIMP/<series>``. install.py (run here, with that HOME)
must find that profile and install into it; then GIMP, started again with the same HOME, must
find the plug-in there and run it on a layer. The HOME lives in the harness's work folder, which
is bind-mounted at the same path where GIMP runs (tests/gimp/harness/workspace.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import harness  # beside this file (pytest puts a test's folder on sys.path)
from harness import batch, workspace

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "neural-style-transfer"


def _bare_venv(where: Path) -> Path:
    """A venv without pip that sees the test venv's packages (torch, ...) through one .pth line,
    so install.py may write its own .pth there without touching the test venv."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True,
                   capture_output=True)
    python = where / "bin" / "python"
    purelib = lambda py: subprocess.run(  # noqa: E731
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib(python), "nst_test_parent.pth").write_text(purelib(sys.executable) + "\n")
    return python


@pytest.fixture(scope="module")
def real_profile(repo_dir, shared_images, fixture_weights, gimp_series):
    gimp, ws = workspace.ready_workspace(repo_dir, shared_images, fixture_weights, gimp_series)
    home = ws.work / "home"
    env = {"HOME": str(home), "TMPDIR": str(ws.plugin_tmp)}     # GIMP's own profile: no GIMP3_DIRECTORY
    state = types.SimpleNamespace(home=home, profile=home / ".config" / "GIMP" / gimp_series,
                                  version=gimp.version)
    try:
        python = _bare_venv(ws.work / "venv")
        with gimp.session(ws.binds) as sess:
            state.first_start = sess.gimp(["-i", "--quit"], env, timeout=600)
            state.profile_made = state.profile.is_dir() and any(state.profile.iterdir())
            state.install = subprocess.run(
                [sys.executable, str(REPO / "install.py"), "--python", str(python), "--weights",
                 str(fixture_weights), "--model", "vgg16", "--device", "cpu", "--no-self-check"],
                capture_output=True, text=True, timeout=900, cwd=str(ws.work),
                env={**{k: v for k, v in os.environ.items()
                        if k not in ("GIMP3_DIRECTORY", "XDG_CONFIG_HOME", "PYTHONPATH")},
                     "HOME": str(home)})
            main = state.profile / "plug-ins" / PLUGIN / f"{PLUGIN}.py"
            state.plugin_installed = main.is_file() and os.access(main, os.X_OK)
            out = ws.work / "results.json"
            args = ws.batch_args(harness.GIMP_TESTS / "batch_cases.py", {
                "cases": ["registration", "photo"], "images": str(shared_images), "iterations": 3,
                "config": str(state.profile / "plug-ins" / PLUGIN / "nst-config.json"),
                "out": str(out), "work": str(ws.work), "plugin_tmp": str(ws.plugin_tmp)})
            state.run = sess.gimp(args, env, timeout=900)
        state.results = json.loads(out.read_text()) if out.exists() else {}
        state.results["gimp_stderr"] = state.run.stderr[-20000:]
        return state
    finally:
        ws.remove()


def test_gimp_made_its_profile(real_profile):
    assert real_profile.first_start.returncode == 0, real_profile.first_start.stderr[-3000:]
    assert real_profile.profile_made, f"GIMP {real_profile.version} made no {real_profile.profile}"


def test_install_finds_the_profile_gimp_made(real_profile):
    r = real_profile.install
    assert r.returncode == 0, r.stdout + r.stderr
    assert str(real_profile.profile) in r.stdout, r.stdout
    assert real_profile.plugin_installed    # the main file, executable, in GIMP's own profile


def test_gimp_runs_the_installed_plugin(real_profile):
    results = real_profile.results
    reg = batch.case_result(results, "registration")
    assert reg["menu_paths"] == ["<Image>/Filters/Artistic"]
    info = batch.case_result(results, "photo")
    assert info["status"] == "success", info.get("message")
    assert info["new_layer"]["name"] == "Style: starry_night"
    assert info["source_unchanged"] and info["others_unchanged"]
