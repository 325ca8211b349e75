"""nst_contract.process: the engine's environment and process, driven with a stand-in engine
(a small Python script) so that every path — events, stray lines, stderr, errors, a crash
after success, a hang — is exercised in well under a second each."""
import sys
import textwrap
import time

import pytest

from nst_contract import process as p
from nst_contract.events import EngineError, parse_event


def fake(tmp_path, body: str) -> list:
    """argv of a stand-in engine whose code is ``body``."""
    script = tmp_path / "fake_engine.py"
    script.write_text("import json, os, sys, time\n" + textwrap.dedent(body))
    return [sys.executable, str(script)]


def test_engine_env_strips_what_breaks_another_python():
    base = {"PATH": "/bin", "PYTHONPATH": "/gimp/py", "PYTHONFOO": "x", "GIMP3_DATADIR": "/g", "GIMP_X": "1",
            "LD_LIBRARY_PATH": "/gimp/lib", "HOME": "/h", "NST_WEIGHTS": "/w.pth"}
    env = p.engine_env({"OMP_NUM_THREADS": "2"}, base=base)
    assert env == {"PATH": "/bin", "HOME": "/h", "NST_WEIGHTS": "/w.pth", "PYTHONUNBUFFERED": "1",
                   "PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "2"}
    assert "NST_WEIGHTS" not in p.engine_env(base=base, drop=("NST_WEIGHTS",))


def test_engine_argv_and_popen_kwargs():
    assert p.engine_argv("/py", "stylize", ["c.png", "-o", "o.png"], ["--model", "vgg16"]) == [
        "/py", "-m", "nst_engine", "stylize", "c.png", "-o", "o.png", "--progress", "json", "--watch-stdin",
        "--model", "vgg16"]
    assert p.popen_kwargs("/engine", "/tmp")["cwd"] == "/engine"
    assert p.popen_kwargs(None, "/tmp")["cwd"] == "/tmp"
    assert p.popen_kwargs()["cwd"] is None
    assert ("creationflags" in p.popen_kwargs()) == (sys.platform == "win32")


def test_events_live_stray_lines_and_stderr(tmp_path):
    argv = fake(tmp_path, """
        print(json.dumps({"event": "start", "command": "stylize"}), flush=True)
        print("Downloading: something", flush=True)
        sys.stderr.write("a warning\\n")
        print(json.dumps({"event": "done", "output": None}), flush=True)
    """)
    seen = []
    run = p.run_engine(argv, p.engine_env(), on_event=seen.append)
    assert run.returncode == 0 and not run.timed_out
    assert [e["event"] for e in seen] == ["start", "done"] == [e["event"] for e in run.events]
    assert run.bad == ["Downloading: something"] and "a warning" in run.stderr
    assert p.outcome(run) == {"event": "done", "output": None}


def test_stderr_to_a_file_and_the_error_event(tmp_path):
    argv = fake(tmp_path, """
        sys.stderr.write("Traceback: boom\\n")
        print(json.dumps({"event": "error", "code": "bad_input", "message": "no style image"}), flush=True)
        sys.exit(2)
    """)
    log = tmp_path / "stderr.log"
    run = p.run_engine(argv, p.engine_env(), stderr_path=str(log))
    assert run.returncode == 2 and run.stderr == ""
    with pytest.raises(EngineError) as e:
        p.outcome(run, p.tail(str(log)))
    assert (e.value.code, e.value.message, e.value.returncode) == ("bad_input", "no style image", 2)
    assert "boom" in e.value.stderr_tail


def test_a_crash_after_the_result_was_written_still_counts(tmp_path):
    out = tmp_path / "o.png"
    out.write_bytes(b"png")
    done = {"event": "done", "output": str(out)}
    assert p.outcome(p.Finished(134, [done])) == done
    with pytest.raises(EngineError, match="stopped without an error report"):
        p.outcome(p.Finished(134, [{"event": "done", "output": str(tmp_path / "missing.png")}]))


@pytest.mark.parametrize("run, words", [
    (p.Finished(0), "finished without reporting a result"),
    (p.Finished(-9), "killed by signal 9"),
    (p.Finished(1, stderr="ModuleNotFoundError: No module named 'nst_engine'"), "cannot find the nst_engine"),
    (p.Finished(-9, timed_out=True), "did not finish in time"),
    (p.Finished(7, [{"event": "error", "code": "from_the_future", "message": "m"}]), r"m \(from_the_future\)"),
])
def test_outcome_without_done_says_why(run, words):
    with pytest.raises(EngineError, match=words) as e:
        p.outcome(run)
    assert e.value.code == "internal" and e.value.returncode == run.returncode


def test_cancelled_is_an_engine_error_with_its_code():
    with pytest.raises(EngineError) as e:
        p.outcome(p.Finished(130, [{"event": "error", "code": "cancelled", "message": "stdin closed"}]))
    assert e.value.code == "cancelled" and e.value.exit_code == 130


def test_the_time_limit_kills_a_hanging_engine(tmp_path):
    argv = fake(tmp_path, "time.sleep(60)\n")
    t0 = time.monotonic()
    run = p.run_engine(argv, p.engine_env(), timeout=0.5)
    assert run.timed_out and run.returncode != 0 and time.monotonic() - t0 < 10


def test_stdin_eof_is_how_the_engine_hears_cancel(tmp_path):
    argv = fake(tmp_path, """
        print(json.dumps({"event": "start"}), flush=True)
        sys.stdin.read()  # --watch-stdin: EOF = cancel
        print(json.dumps({"event": "error", "code": "cancelled", "message": "stdin closed"}), flush=True)
        sys.exit(130)
    """)
    proc = p.start_engine(argv, p.engine_env())
    assert parse_event(proc.stdout.readline()) == {"event": "start"}
    p.stop_engine(proc, timeout=5)
    assert proc.returncode == 130
    proc.stdout.close()


def test_stop_kills_an_engine_that_ignores_eof_and_sigterm(tmp_path):
    argv = fake(tmp_path, """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(60)
    """)
    proc = p.start_engine(argv, p.engine_env())
    proc.stdout.readline()
    p.stop_engine(proc, timeout=0.3)
    assert proc.returncode is not None and proc.returncode != 0
    proc.stdout.close()


def test_an_interpreter_that_does_not_exist(tmp_path):
    with pytest.raises(EngineError, match="cannot start the engine's Python /no/python.*run install.py") as e:
        p.run_engine(["/no/python", "-m", "nst_engine"], p.engine_env(), hint="run install.py")
    assert e.value.code == "internal"


def test_event_lines_from_pieces():
    lines = p.EventLines()
    assert lines.feed(b'{"event": "sta') == []
    assert lines.feed(b'rt"}\nnoise\n{"event": "done"}\n{"ev') == [{"event": "start"}, {"event": "done"}]
    assert lines.bad == ["noise"]


def test_tail(tmp_path):
    log = tmp_path / "err.log"
    log.write_text("\n".join(f"line {i}" for i in range(100)))
    t = p.tail(str(log), lines=3)
    assert t == "line 97\nline 98\nline 99"
    assert p.tail(str(tmp_path / "missing")) == ""


def test_event_lines_split_reads_anywhere():
    lines = p.EventLines()
    assert lines.feed(b'{"event": "start", "id": 1}\n{"event": "pro') == [{"event": "start", "id": 1}]
    assert lines.feed(b'gress", "id": 1}\nnoise\n') == [{"event": "progress", "id": 1}]
    assert lines.feed(b"") == []
