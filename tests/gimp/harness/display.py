"""A virtual display (Xvfb) where GIMP runs, for the dialog and GUI tests, and waiting on it."""
from __future__ import annotations

import contextlib
import subprocess
import time


@contextlib.contextmanager
def x_display(sess, screen: str, tools=("Xvfb", "xdotool")):
    """An Xvfb display inside a GIMP session, for the GUI tests; yields its name (":N").

    Skips the calling test when ``tools`` are missing where GIMP runs.
    """
    import pytest
    missing = [p for p in tools if not sess.has(p)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed where GIMP runs "
                    "(re-run tests/gimp/provision_root.sh)")
    xvfb = sess.popen(["Xvfb", "-displayfd", "1", "-ac", "-nolisten", "tcp", "-screen", "0", screen],
                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield ":" + xvfb.stdout.readline().strip()
    finally:
        xvfb.kill()
        xvfb.wait()


def wait_for(pred, timeout, what):
    """Poll ``pred`` until it returns something true (returned) or ``timeout`` seconds pass."""
    t = time.time()
    while time.time() - t < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
