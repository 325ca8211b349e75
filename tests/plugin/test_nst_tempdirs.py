"""nst_tempdirs: each run's private temp folder, removed after it, and stale ones of dead runs."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plugin_helpers import cfg
import nst_tempdirs


def test_temp_root(tmp_path):
    assert nst_tempdirs.temp_root(cfg(), environ={}) in (None, os.path.join(os.path.expanduser("~/.cache"),
                                                                            "nst-gimp-tmp"))
    assert nst_tempdirs.temp_root(cfg(temp_dir=str(tmp_path / "t")), environ={}) == str(tmp_path / "t")
    assert (tmp_path / "t").is_dir()
    root = nst_tempdirs.temp_root(cfg(), environ={"FLATPAK_ID": "org.gimp.GIMP",
                                        "XDG_CACHE_HOME": str(tmp_path / "c")})
    assert root == str(tmp_path / "c" / "nst-gimp-tmp")


def test_run_dir_is_private_and_removed(tmp_path):
    with nst_tempdirs.RunDir(str(tmp_path)) as run:
        path = Path(run.path)
        assert path.is_dir() and path.name.startswith(f"nst-gimp-{os.getpid()}-")
        if os.name == "posix":
            assert (path.stat().st_mode & 0o777) == 0o700
        Path(run.file("x.png")).write_bytes(b"x")
    assert not path.exists()
    with pytest.raises(RuntimeError):
        with nst_tempdirs.RunDir(str(tmp_path)) as run:
            path = Path(run.path)
            raise RuntimeError("boom")
    assert not path.exists()


def test_cleanup_stale(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"nst-gimp-{dead.pid}-abc"
    alive = tmp_path / f"nst-gimp-{os.getppid()}-def"
    mine = tmp_path / f"nst-gimp-{os.getpid()}-ghi"
    other = tmp_path / "something-else"
    old = tmp_path / f"nst-gimp-{os.getppid()}-old"
    for d in (stale, alive, mine, other, old):
        d.mkdir()
        (d / "f").write_text("x")
    week = time.time() - 8 * 24 * 3600
    os.utime(old, (week, week))
    removed = nst_tempdirs.cleanup_stale(str(tmp_path))
    assert sorted(removed) == sorted([str(stale), str(old)])
    assert alive.exists() and mine.exists() and other.exists()
    # RunDir cleans up before making its own folder
    stale.mkdir()
    with nst_tempdirs.RunDir(str(tmp_path)):
        assert not stale.exists()
