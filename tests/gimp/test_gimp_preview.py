"""The dialog's live preview in a real GIMP 3 on a virtual display (Xvfb + xdotool).

The dialog opens with a style chosen; the test reads the screen (xwd) where the preview's
picture is drawn (the plug-in's NST_PREVIEW_TRACE says where, and keeps a copy of every
picture it showed), checks that stylised pixels are there, drags the strength to the right and
sees the preview change, then presses Cancel (first dialog) and OK (second) and checks that no
preview engine process is left. The screenshots are kept (the folder is printed)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import harness  # beside this file (pytest puts a test's folder on sys.path)

TITLE = "Neural Style Transfer"
STRENGTH = 0.3
STYLISED = 12.0     # mean |preview - source| (0..255) above this: stylised, not the photo
CHANGED = 4.0       # mean |after - before| above this: the strength change showed
ON_SCREEN = 6.0     # mean |screen - picture shown| below this: that picture is what is on screen
FIRST_PREVIEW_S = 5.0   # the target on an idle 2-core CPU (issue 15)
LIMIT_S = float(os.environ.get("NST_PREVIEW_LIMIT_S", "90"))  # what the test enforces (shared, loaded CI)
ARTIFACTS = Path(os.environ.get("NST_TEST_ARTIFACTS", Path(tempfile.gettempdir()) / "nst-test-artifacts"))


def read_xwd(path: Path) -> np.ndarray:
    """An xwd screenshot (ZPixmap, 24/32 bits TrueColor, as Xvfb writes them) → H x W x 3 uint8."""
    data = path.read_bytes()
    head = np.frombuffer(data[:100], ">u4")
    header_size, width, height = int(head[0]), int(head[4]), int(head[5])
    byte_order, bpp, bpl, ncolors = int(head[7]), int(head[11]), int(head[12]), int(head[19])
    assert bpp in (24, 32), f"unexpected xwd format: {bpp} bits per pixel"
    n = bpp // 8
    start = header_size + 12 * ncolors
    px = np.frombuffer(data[start:start + bpl * height], np.uint8).reshape(height, bpl)[:, :width * n]
    px = px.reshape(height, width, n)
    if byte_order == 0:                      # LSBFirst: B G R (x)
        return px[..., [2, 1, 0]]
    return px[..., [n - 3, n - 2, n - 1]]    # MSBFirst: (x) R G B


def crop(screen, rect, dx=0, dy=0):
    x, y, w, h = rect
    return screen[y + dy:y + dy + h, x + dx:x + dx + w].astype(float)


def on_screen_diff(screen, rect, picture):
    """Smallest mean difference between ``picture`` and the screen at ``rect`` (±2 px)."""
    return min(np.abs(crop(screen, rect, dx, dy) - picture).mean()
               for dx in range(-2, 3) for dy in range(-2, 3))


def source_at(size, shared_images):
    img = Image.open(shared_images / "tubingen.jpg").convert("RGB").resize((320, 240), Image.Resampling.LANCZOS)
    return np.asarray(img.resize(tuple(size), Image.Resampling.LANCZOS), float)


def engine_processes():
    """(pid, argv) of every preview engine (``nst_engine serve``) on this machine."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            argv = harness.read_cmdline(pid)
            if "nst_engine" in argv and "serve" in argv:
                found.append((int(pid), argv))
    return found


def trace_lines(trace: Path):
    f = trace / "trace.jsonl"
    return [json.loads(line) for line in f.read_text().splitlines()] if f.exists() else []


@pytest.fixture(scope="module")
def preview_run(repo_dir, shared_images, fixture_weights, gimp_series):
    gimp, ws = harness.ready_workspace(repo_dir, shared_images, fixture_weights, gimp_series)
    trace = ws.work / "trace"
    trace.mkdir()
    out = ws.work / "preview.json"
    shots = ARTIFACTS / "preview"
    shots.mkdir(parents=True, exist_ok=True)
    found = {"screens": {}}
    try:
        args = ws.batch_args(harness.HERE / "batch_preview.py",
                             {"images": str(shared_images), "out": str(out), "strength": STRENGTH})
        with gimp.session(ws.binds) as sess, harness.x_display(sess, "1280x1024x24", ("Xvfb", "xdotool", "xwd")) \
                as display:
            denv = {"DISPLAY": display}
            gimp_proc = sess.popen([sess.console, *args], dict(ws.env, DISPLAY=display,
                                                                     NST_PREVIEW_TRACE=str(trace)),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                def window():
                    r = sess.run(["xdotool", "search", "--name", TITLE], denv, timeout=30)
                    return r.stdout.split()[0] if r.returncode == 0 and r.stdout.split() else None

                def shot(name):
                    path = ws.work / f"{name}.xwd"
                    sess.run(["xwd", "-root", "-silent", "-out", str(path)], denv, timeout=30)
                    found["screens"][name] = read_xwd(path)

                def wait_line(pred, timeout, what, start=0):
                    return harness.wait_for(lambda: next((l for l in trace_lines(trace)[start:] if pred(l)), None),
                                            timeout, what)

                def key(wid, name):
                    sess.run(["sh", "-c", f"xdotool windowfocus --sync {wid} && xdotool key {name}"], denv, timeout=30)

                # --- first dialog: preview, strength change, Cancel
                wid = harness.wait_for(window, 180, "the dialog")
                found["window_seen"] = time.time()
                first = wait_line(lambda l: l["what"] == "shown", LIMIT_S + 60, "the first preview picture")
                found["first_seen"] = time.time()
                time.sleep(0.5)
                shot("first")
                found["first"] = first
                done = wait_line(lambda l: l["what"] == "shown" and l["kind"] == "done", 300, "the preview's end")
                time.sleep(0.5)
                shot("done")
                found["done"] = done
                geo = sess.run(["xdotool", "getwindowgeometry", "--shell", wid], denv, timeout=30).stdout
                found["window"] = dict(line.split("=", 1) for line in geo.split())
                x, y, w, h = done["scales"][0]
                sess.run(["xdotool", "mousemove", str(x + w * 7 // 8), str(y + h // 2), "click", "1"], denv, timeout=30)
                after = wait_line(lambda l: l["what"] == "shown" and l["kind"] == "done" and l["strength"] > 0.8,
                                  300, "the preview after the strength change")
                time.sleep(0.5)
                shot("after")
                found["after"] = after
                key(wid, "Escape")
                closed = wait_line(lambda l: l["what"] == "closed", 60, "the preview to close after Cancel")
                found["cancel_closed"] = closed
                found["engines_after_cancel"] = engine_processes()
                # --- second dialog: OK while the preview runs
                n = len(trace_lines(trace))
                wait_line(lambda l: l["what"] == "attached", 180, "the second dialog's preview", n)
                shown = wait_line(lambda l: l["what"] == "shown", LIMIT_S + 60, "the second dialog's preview", n)
                assert shown["ok"], "the dialog's OK button was not found"
                x, y, w, h = shown["ok"]   # OK while a preview job runs (the second of three snapshots)
                sess.run(["xdotool", "mousemove", str(x + w // 2), str(y + h // 2), "click", "1"], denv, timeout=30)
                found["ok_closed"] = wait_line(lambda l: l["what"] == "closed", 60, "the preview to close after OK", n)
                found["engines_after_ok"] = engine_processes()
                found["log"], _ = gimp_proc.communicate(timeout=600)
            finally:
                if gimp_proc.poll() is None:
                    gimp_proc.kill()
                    gimp_proc.wait()
        found["results"] = json.loads(out.read_text()) if out.exists() else {}
        found["pictures"] = {p.name: np.asarray(Image.open(p).convert("RGB"), float) for p in trace.glob("shown-*.png")}
        return found
    finally:
        keep_artifacts(found, trace, shots)
        ws.remove()


def keep_artifacts(found, trace, shots):
    """Screenshots (whole screen and the dialog alone) and the preview's trace, pass or fail."""
    found["trace"] = trace_lines(trace)
    win = found.get("window", {})
    for name, screen in found["screens"].items():
        Image.fromarray(screen).save(shots / f"{name}-screen.png")
        if win:
            x, y, w, h = (int(win[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
            Image.fromarray(screen[y:y + h, x:x + w]).save(shots / f"{name}-dialog.png")
    (shots / "trace.jsonl").write_text("".join(json.dumps(line) + "\n" for line in found["trace"]))
    print(f"\npreview test artifacts (screenshots, trace): {shots}", file=sys.stderr)


def picture(found, line):
    return found["pictures"][os.path.basename(line["copy"])]


def test_preview_shows_stylised_pixels_in_time(preview_run, shared_images):
    found = preview_run
    done = found["done"]
    pic = picture(found, done)
    src = source_at((pic.shape[1], pic.shape[0]), shared_images)
    assert max(pic.shape[:2]) == 256
    assert np.abs(pic - src).mean() > STYLISED
    # ... and that picture is what the screen shows where the preview is
    assert on_screen_diff(found["screens"]["done"], done["picture"], pic) < ON_SCREEN
    assert np.abs(crop(found["screens"]["done"], done["picture"]) - src).mean() > STYLISED
    # the first stylised picture: when it was shown, measured from the dialog's opening
    stylised = [l for l in found["trace"] if l["what"] == "shown" and
                np.abs(picture(found, l) - src).mean() > STYLISED]
    # the trace's clock starts when the preview is attached; the dialog appears a little later,
    # and the engine was started before GIMP built the dialog (EngineStart)
    opened = next(l["t"] for l in found["trace"] if l["what"] == "dialog shown")
    engine = next(l["engine_started"] for l in found["trace"] if l["what"] == "attached")
    first = stylised[0]["t"] - opened
    print(f"\nfirst stylised preview {first:.1f} s after the dialog appeared (target {FIRST_PREVIEW_S} s on an "
          f"idle 2-core CPU), {stylised[0]['t'] - engine:.1f} s after the engine started; first picture of "
          f"any kind {found['first']['t'] - opened:.1f} s; window seen→picture seen "
          f"{found['first_seen'] - found['window_seen']:.1f} s)", file=sys.stderr)
    assert first < LIMIT_S


def test_changing_the_strength_updates_the_preview(preview_run):
    found = preview_run
    before, after = found["done"], found["after"]
    assert before["strength"] == pytest.approx(STRENGTH) and after["strength"] > 0.8
    assert after["job"] > before["job"]
    a, b = picture(found, before), picture(found, after)
    assert np.abs(a - b).mean() > CHANGED
    assert on_screen_diff(found["screens"]["after"], after["picture"], b) < ON_SCREEN


def test_no_engine_survives_the_dialog(preview_run):
    found = preview_run
    assert found["engines_after_cancel"] == [], found["engines_after_cancel"]
    assert found["engines_after_ok"] == [], found["engines_after_ok"]
    assert found["cancel_closed"]["engine_returncode"] is not None   # reaped, not left as a zombie
    assert found["ok_closed"]["engine_returncode"] is not None
    cancel = found["results"]["cases"]["cancel"]
    assert cancel["status"] == "cancel" and cancel["layers_after"] == cancel["layers_before"]
    ok = found["results"]["cases"]["ok"]
    assert ok["status"] == "success", ok
    assert len(ok["layers_after"]) == len(ok["layers_before"]) + 1
    assert "Traceback" not in found["log"], found["log"][-3000:]
