"""One install.py at a time per prefix (nst_installer/prefix_lock.py): a second run waits, and two
runs at once leave one whole manifest."""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time

from install_helpers import INSTALL, env_for, make_home, run_install, snapshot


def test_two_installs_at_once_keep_the_manifest_whole(tmp_path, engine_python, fixture_weights):
    home = make_home(tmp_path, profiles=("3.0",), flatpak=False)
    before = snapshot(home)
    cmd = [sys.executable, str(INSTALL), "--python", str(engine_python), "--weights", str(fixture_weights),
           "--model", "vgg16", "--no-self-check"]
    runs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(home),
                             cwd=str(tmp_path)) for _ in range(2)]
    outs = [r.communicate(timeout=900) for r in runs]
    for r, (out, err) in zip(runs, outs):
        assert r.returncode == 0, out + err
    assert sum("another install.py is changing" in out for out, _err in outs) == 1  # the other waited
    prefix = home / ".local/share/gimp-neural-style"
    entries = json.loads((prefix / "install-manifest.json").read_text())["entries"]
    made = {e["path"]: e["created"] for e in entries if e["kind"] != "file"}
    for folder in (home / ".local", prefix, prefix / "weights", prefix / "engine",
                   home / ".config/GIMP/3.0/plug-ins/neural-style-transfer"):
        assert made[str(folder)] is True, folder  # the first run made them, and the manifest says so
    r = run_install(home, "--uninstall")
    assert r.returncode == 0, r.stdout + r.stderr
    assert snapshot(home) == before


def test_a_second_run_waits_for_the_first_and_says_so(tmp_path):
    home = make_home(tmp_path, profiles=(), flatpak=False)
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    fd = os.open(prefix, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a running install.py holds it
    try:
        second = subprocess.Popen([sys.executable, str(INSTALL), "--uninstall", "--prefix", str(prefix)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(home))
        line = second.stdout.readline()
        assert f"another install.py is changing {prefix}; waiting for it to finish" in line
        time.sleep(1)
        assert second.poll() is None  # still waiting
    finally:
        os.close(fd)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, out + err
    assert "nothing to uninstall" in out
    assert prefix.is_dir()  # it was there before


def test_a_run_that_saves_nothing_leaves_no_folder(tmp_path):
    home = make_home(tmp_path, profiles=(), flatpak=False)
    prefix = tmp_path / "new" / "prefix"
    r = run_install(home, "--uninstall", "--prefix", prefix)
    assert r.returncode == 0 and "nothing to uninstall" in r.stdout
    assert not (tmp_path / "new").exists()  # made for the lock, removed again
