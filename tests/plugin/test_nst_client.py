"""nst_client: the engine process as the plug-in runs it (environment, start, events, errors,
cancel, the preview's serve engine), driven by small fake engines written here.

No GIMP, no torch: plain CPython. Tests with the real engine are in test_engine_client.py."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from plugin_helpers import PLUGIN_DIR, cfg, fake
import nst_client as nc
from nst_contract import plugin_config
import nst_errors
import nst_jobs
import nst_progress


def test_engine_env_strips_python_and_gimp_variables():
    base = {"PATH": "/usr/bin", "HOME": "/home/u", "PYTHONPATH": "/gimp/lib/python",
            "PYTHONHOME": "/gimp", "PYTHONSTARTUP": "x", "GIMP3_DIRECTORY": "/p",
            "LD_LIBRARY_PATH": "/gimp/lib", "GI_TYPELIB_PATH": "/gimp/typelib",
            "VIRTUAL_ENV": "/v", "LANG": "C.UTF-8"}
    env = nc.engine_env(cfg(env={"OMP_NUM_THREADS": "1"}), base=base)
    for gone in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "GIMP3_DIRECTORY",
                 "LD_LIBRARY_PATH", "GI_TYPELIB_PATH", "VIRTUAL_ENV"):
        assert gone not in env
    assert env["PATH"] == "/usr/bin" and env["HOME"] == "/home/u" and env["LANG"] == "C.UTF-8"
    assert env["PYTHONUNBUFFERED"] == "1" and env["OMP_NUM_THREADS"] == "1"


def test_popen_kwargs(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    kw = nc.popen_kwargs(cfg(engine_path="/src"), "/tmp/run")
    assert kw["creationflags"] == 0x08000000 and kw["cwd"] == "/src"
    monkeypatch.setattr(sys, "platform", "linux")
    kw = nc.popen_kwargs(cfg(), "/tmp/run")
    assert "creationflags" not in kw and kw["cwd"] == "/tmp/run"


def test_run_engine_success_events(tmp_path):
    argv = fake(tmp_path, """
        print("not json, ignored")
        ev(event="start", total_steps=4, device="cpu")
        for i in range(1, 5):
            ev(event="progress", scale=0, scales=1, step=i, steps=4, fraction=i / 4, eta_s=4 - i)
        sys.stderr.write("some log\\n")
        open(out, "wb").write(b"png")
        ev(event="done", output=out, seconds=0.1)
    """)
    seen = []
    done = nc.run_engine(argv + ["-o", str(tmp_path / "o.png")], nc.engine_env(),
                         str(tmp_path / "err.log"), on_event=seen.append)
    assert done["event"] == "done" and done["output"] == str(tmp_path / "o.png")
    assert [e["event"] for e in seen] == ["start"] + ["progress"] * 4 + ["done"]
    assert nst_progress.progress_text(seen[2]) == "Scale 1/1, step 2/4, 0:02 left"


def test_run_engine_error_event(tmp_path):
    argv = fake(tmp_path, """
        sys.stderr.write("Traceback...\\nValueError: bad style\\n")
        ev(event="error", code="bad_input", message="style image 'x' is not an image")
        sys.exit(2)
    """)
    with pytest.raises(nst_errors.EngineError) as e:
        nc.run_engine(argv, nc.engine_env(), str(tmp_path / "err.log"))
    assert e.value.code == "bad_input" and e.value.exit_code == 2
    assert "style image 'x' is not an image" in str(e.value)
    assert "ValueError: bad style" in str(e.value)


def test_run_engine_crash_without_event(tmp_path):
    argv = fake(tmp_path, """
        sys.stderr.write("Segmentation fault or similar\\n")
        os._exit(1)
    """)
    with pytest.raises(nst_errors.EngineError) as e:
        nc.run_engine(argv, nc.engine_env(), str(tmp_path / "err.log"))
    assert "without an error report" in str(e.value) and "Segmentation fault" in str(e.value)


def test_run_engine_module_missing(tmp_path):
    argv = [sys.executable, "-m", "nst_engine_that_does_not_exist"]
    with pytest.raises(nst_errors.EngineError) as e:
        nc.run_engine(argv, nc.engine_env(), str(tmp_path / "err.log"))
    assert "engine_path" in str(e.value)


def test_run_engine_not_startable(tmp_path):
    with pytest.raises(nst_errors.EngineError) as e:
        nc.run_engine([str(tmp_path / "no-python")], nc.engine_env(), str(tmp_path / "err.log"))
    assert "cannot start" in str(e.value) and "install.py" in str(e.value)


def test_run_engine_cancelled(tmp_path):
    argv = fake(tmp_path, """
        ev(event="error", code="cancelled", message="stopped by SIGTERM; nothing was written")
        sys.exit(130)
    """)
    with pytest.raises(nst_errors.Cancelled):
        nc.run_engine(argv, nc.engine_env(), str(tmp_path / "err.log"))


def test_run_engine_done_then_crash_at_exit_uses_result(tmp_path):
    argv = fake(tmp_path, """
        open(out, "wb").write(b"png")
        ev(event="done", output=out)
        os.abort()
    """)
    done = nc.run_engine(argv + ["-o", str(tmp_path / "o.png")], nc.engine_env(),
                         str(tmp_path / "err.log"))
    assert done["output"] == str(tmp_path / "o.png")


def test_run_engine_stdin_is_an_open_pipe(tmp_path):
    """The engine's stdin must stay open while the plug-in lives (EOF = cancel)."""
    argv = fake(tmp_path, """
        import select
        r, _, _ = select.select([sys.stdin], [], [], 0.5)
        ev(event="done", output=out, stdin_eof=bool(r) and sys.stdin.read(1) == "")
    """)
    done = nc.run_engine(argv + ["-o", "x"], nc.engine_env(), str(tmp_path / "err.log"))
    assert done["stdin_eof"] is False


def test_engine_dies_with_its_parent(tmp_path):
    """Kill -9 a process running run_engine (what GIMP's Cancel does to the plug-in):
    the fake engine, which stops at EOF on stdin like --watch-stdin, goes away."""
    marker = tmp_path / "engine-stopped"
    engine = fake(tmp_path, f"""
        ev(event="start")
        open({str(tmp_path / 'engine-pid')!r}, "w").write(str(os.getpid()))
        sys.stdin.read()                        # blocks until the parent dies
        open({str(marker)!r}, "w").write("eof")
    """)
    parent = tmp_path / "parent.py"
    parent.write_text(textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(PLUGIN_DIR)!r})
        import nst_client as nc
        nc.run_engine({engine!r}, nc.engine_env(), {str(tmp_path / 'err.log')!r})
    """))
    p = subprocess.Popen([sys.executable, str(parent)])
    t = time.time()
    while not (tmp_path / "engine-pid").exists() and time.time() - t < 20:
        time.sleep(0.05)
    assert (tmp_path / "engine-pid").exists()
    p.kill()
    p.wait()
    t = time.time()
    while not marker.exists() and time.time() - t < 10:
        time.sleep(0.05)
    assert marker.read_text() == "eof"


def test_run_engine_visualize_task(tmp_path):
    """run_engine serves `visualize` too: its events, its done, its errors and cancel."""
    ok = fake(tmp_path, """
        ev(event="start", command="visualize", images=2, skipped=[], backend="onnx", device="cpu")
        for i in (1, 2):
            ev(event="progress", stage="scan", step=i, steps=2, fraction=i / 3, eta_s=1,
               image=f"/p/{i}.png", label="scan")
        ev(event="progress", stage="render", step=1, steps=1, fraction=1.0, eta_s=0)
        open(out, "wb").write(b"png")
        ev(event="done", command="visualize", output=out, json=out + ".json", size=[5, 6])
    """, "ok.py")
    seen = []
    done = nc.run_engine(ok + ["-o", str(tmp_path / "u.png")], nc.engine_env(),
                         str(tmp_path / "err.log"), on_event=seen.append, task=nst_errors.VISUALIZE_TASK)
    assert done["size"] == [5, 6]
    assert [nst_progress.progress_text(e) for e in seen][1:3] == ["Scanning image 1/2 (1.png), 0:01 left",
                                                        "Scanning image 2/2 (2.png), 0:01 left"]
    bad = fake(tmp_path, """
        ev(event="error", code="bad_input", message="no usable images found in '/p'")
        sys.exit(2)
    """, "bad.py")
    with pytest.raises(nst_errors.EngineError) as e:
        nc.run_engine(bad, nc.engine_env(), str(tmp_path / "err.log"), task=nst_errors.VISUALIZE_TASK)
    assert str(e.value).startswith("The network visualization engine rejected the input")
    cancelled = fake(tmp_path, """
        ev(event="error", code="cancelled", message="stdin closed")
        sys.exit(130)
    """, "cancel.py")
    with pytest.raises(nst_errors.Cancelled) as e:
        nc.run_engine(cancelled, nc.engine_env(), str(tmp_path / "err.log"),
                      task=nst_errors.VISUALIZE_TASK)
    assert str(e.value) == "The network visualization was cancelled."


def test_preview_engine_filters_old_jobs_and_stops(tmp_path):
    """A fake ``serve``: events of an older job are dropped, stdin EOF ends it, close() reaps."""
    script = fake(tmp_path, """
        for line in sys.stdin:
            job = json.loads(line)
            ev(event="progress", id=job["id"] - 1, step=1)   # a late event of the previous job
            ev(event="done", id=job["id"], output="o.png")
    """)
    wrapper = tmp_path / "python"   # stands in for the engine's interpreter: runs the fake
    wrapper.write_text(f'#!/bin/sh\nexec "{script[0]}" "{script[1]}" "$@"\n')
    wrapper.chmod(0o755)
    engine = nc.PreviewEngine(plugin_config.Config(path="<t>", engine_python=str(wrapper)), str(tmp_path / "err.log"),
                              env=nc.engine_env())
    assert engine.proc.args[1:4] == ["-m", "nst_engine", "serve"] and "--progress" in engine.proc.args
    try:
        engine.submit(nst_jobs.preview_job("c.png", "s.png", "o.png", (64, 48)))
        deadline, events = time.time() + 20, []
        while not events and time.time() < deadline:
            events = engine.read_events()[0]
            time.sleep(0.05)
        assert events == [{"event": "done", "id": 1, "output": "o.png"}]
    finally:
        engine.close()
    assert engine.proc.returncode == 0
