"""One Ctrl+Z removes everything the plug-in did: checked in the full GIMP 3 GUI.

GIMP has no PDB call for undo, so this runs the real GUI (gimp-3.0, gimp-3.2) on a virtual display
(Xvfb), calls the plug-in on a displayed image (with a selection, so the new layer also gets
a mask), presses Ctrl+Z once in GIMP's window (xdotool) and compares the layers with the
state before the plug-in ran. Skipped with the reason when Xvfb/xdotool are missing."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import harness  # beside this file (pytest puts a test's folder on sys.path)
from harness import workspace
from harness.display import wait_for, x_display


@pytest.fixture(scope="module")
def undo_results(repo_dir, shared_images, fixture_weights, gimp_series):
    gimp, ws = workspace.ready_workspace(repo_dir, shared_images, fixture_weights, gimp_series)
    out, ready, undone = ws.work / "undo.json", ws.work / "ready", ws.work / "undone"
    # no welcome/tips dialog in front of the image window. single-window-mode is a session
    # setting: in gimprc, 3.2 rejects the whole file ("fatal parse error")
    (ws.profile / "gimprc").write_text("(show-welcome-dialog no)\n(show-tips no)\n")
    (ws.profile / "sessionrc").write_text("(single-window-mode yes)\n")
    log = ""
    try:
        args = ws.batch_args(harness.GIMP_TESTS / "batch_undo.py",
                             {"images": str(shared_images), "out": str(out), "ready": str(ready),
                              "undone": str(undone), "iterations": 3})
        args = [a for a in args if a != "-i"]          # the full GUI this time
        with gimp.session(ws.binds) as sess, \
                x_display(sess, "1280x1024x24", ("Xvfb", "xdotool", gimp.gui)) as display:
            gp = None
            try:
                denv = {"DISPLAY": display}
                gp = sess.popen([sess.gui, "--no-splash", "--no-fonts", *args],
                                dict(ws.env, DISPLAY=display), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
                wait_for(lambda: ready.exists() or gp.poll() is not None, 400,
                          "the plug-in run in the GUI")
                if ready.exists():
                    r = sess.run(["xdotool", "search", "--onlyvisible", "--name", "GIMP"], denv,
                                 timeout=30)
                    wins = r.stdout.split()
                    assert wins, f"no GIMP window found: {r.stderr}"
                    names = sess.run(["sh", "-c", "for w in " + " ".join(wins) +
                                      "; do echo $w $(xdotool getwindowname $w); done"], denv,
                                     timeout=30).stdout
                    sess.run(["xwd", "-root", "-out", str(ws.work / "before-undo.xwd")], denv, timeout=30)
                    image_wins = [ln.split()[0] for ln in names.splitlines()
                                  if "[Untitled]" in ln]
                    assert image_wins, f"GIMP's image window not found among: {names}"
                    for ln in names.splitlines():      # a first-run "Welcome" dialog, if any
                        if "Welcome" in ln:
                            sess.run(["xdotool", "windowunmap", ln.split()[0]], denv, timeout=30)
                    kr = sess.run(["sh", "-c", f"xdotool windowfocus --sync {image_wins[0]}; "
                                   "sleep 1; xdotool key ctrl+z"], denv, timeout=30)
                    time.sleep(2)
                    sess.run(["xwd", "-root", "-out", str(ws.work / "after-undo.xwd")], denv, timeout=30)
                    keep = os.environ.get("NST_KEEP_GIMP_RESULTS")
                    if keep:
                        for n in ("before-undo.xwd", "after-undo.xwd"):
                            Path(keep + "." + n).write_bytes((ws.work / n).read_bytes())
                        Path(keep + ".windows.txt").write_text(names + "\n" + kr.stdout + kr.stderr)
                    undone.write_text("undone")
                wait_for(lambda: out.exists() and json.loads(out.read_text()).get("finished"),
                          120, "the batch to record the state after Ctrl+Z")
            finally:
                if gp is not None:
                    if gp.poll() is None:
                        gp.kill()
                    log = gp.communicate()[0] or ""
        results = json.loads(out.read_text()) if out.exists() else {}
        results["log"] = log[-8000:]
        keep = os.environ.get("NST_KEEP_GIMP_RESULTS")
        if keep:
            Path(keep + ".undo.json").write_text(json.dumps(results, indent=1))
        return results
    finally:
        ws.remove()


def test_profile_settings_are_accepted(undo_results):
    """GIMP read the test's gimprc and sessionrc without complaint (3.2 rejects a gimprc with a
    session setting, then ignores all of it: the tips dialog would cover the image)."""
    assert "fatal parse error" not in undo_results["log"], undo_results["log"][-3000:]
    assert "parse error" not in undo_results["log"].lower(), undo_results["log"][-3000:]


def test_one_ctrl_z_removes_the_whole_change(undo_results):
    r = undo_results
    assert "exception" not in r, r.get("exception")
    assert r.get("status") == "success", r.get("log")
    names_after = [l[0] for l in r["after_plugin"]]
    assert names_after == ["Style: starry_night", "photo", "background"]
    assert r["after_plugin"][0][2]             # the new layer has its mask
    assert r["undo_pressed"]
    assert r["after_one_undo"] == r["before"], r["after_one_undo"]
