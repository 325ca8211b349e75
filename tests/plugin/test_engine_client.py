"""The plug-in's client (nst_client.py) against the REAL engine, without GIMP.

Uses the engine interpreter from ``NST_ENGINE_PYTHON`` (default: the test venv), the
engine source of this checkout (as ``engine_path``) and the shared VGG16 weights fixture.
Tiny images, few iterations: a few seconds per engine run on 2 cores."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from plugin_helpers import PLUGIN_DIR
import nst_client as nc
from nst_contract import plugin_config
import nst_errors
import nst_jobs
import nst_progress

ENGINE_PYTHON = os.environ.get(
    "NST_ENGINE_PYTHON", os.path.expanduser("~/.cache/gimp-neural-style/test-venv/bin/python"))


@pytest.fixture(scope="module")
def engine_cfg(repo_dir, fixture_weights):
    if not os.path.exists(ENGINE_PYTHON):
        pytest.fail(f"engine interpreter {ENGINE_PYTHON} missing (set NST_ENGINE_PYTHON)")
    return plugin_config.Config(path="<test>", engine_python=ENGINE_PYTHON, engine_path=str(repo_dir),
                             weights=str(fixture_weights), model="vgg16", device="cpu")


@pytest.fixture(scope="module")
def content_png(tmp_path_factory, shared_images):
    """A 96 x 72 PNG of the content photo (made with the engine's Pillow)."""
    out = tmp_path_factory.mktemp("content") / "content.png"
    code = ("from PIL import Image; import sys; im = Image.open(sys.argv[1]).convert('RGB'); "
            "im = im.resize((96, 72)); im.save(sys.argv[2])")
    subprocess.run([ENGINE_PYTHON, "-c", code, str(shared_images / "tubingen.jpg"), str(out)],
                   check=True, env=nc.engine_env())
    return out


def test_real_engine_run_with_progress(engine_cfg, content_png, shared_images, tmp_path):
    job = nst_jobs.Job(content=str(content_png), style=str(shared_images / "starry_night.jpg"),
                       output=str(tmp_path / "result.png"), layer_size=(96, 72), preset="draft",
                       iterations=6, seed=3)
    events = []
    done = nc.run_engine(nst_jobs.build_argv(engine_cfg, job), nc.engine_env(engine_cfg),
                         str(tmp_path / "stderr.log"), on_event=events.append,
                         popen_kw=nc.popen_kwargs(engine_cfg, str(tmp_path)))
    assert done["event"] == "done" and Path(done["output"]) == tmp_path / "result.png"
    assert (tmp_path / "result.png").stat().st_size > 0
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "progress" in kinds
    texts = [nst_progress.progress_text(e) for e in events if e["event"] == "progress"]
    assert all(re.fullmatch(r"Scale \d+/\d+, step \d+/\d+, \d+:\d\d left", t) for t in texts), texts
    fractions = [nst_progress.progress_fraction(e) for e in events if e["event"] == "progress"]
    assert fractions == sorted(fractions) and 0 < fractions[-1] <= 1


def test_real_engine_unreadable_style(engine_cfg, content_png, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image\n" * 20)
    job = nst_jobs.Job(content=str(content_png), style=str(bad), output=str(tmp_path / "r.png"),
                       layer_size=(96, 72), preset="draft", iterations=2)
    with pytest.raises(nst_errors.EngineError) as e:
        nc.run_engine(nst_jobs.build_argv(engine_cfg, job), nc.engine_env(engine_cfg),
                      str(tmp_path / "stderr.log"),
                      popen_kw=nc.popen_kwargs(engine_cfg, str(tmp_path)))
    assert e.value.code == "bad_input"
    assert "broken.jpg" in str(e.value)
    assert not (tmp_path / "r.png").exists()


def test_real_engine_missing_weights(engine_cfg, content_png, shared_images, tmp_path):
    cfg = plugin_config.Config(**{**engine_cfg.__dict__, "weights": str(tmp_path / "nope.pt")})
    job = nst_jobs.Job(content=str(content_png), style=str(shared_images / "starry_night.jpg"),
                       output=str(tmp_path / "r.png"), layer_size=(96, 72), preset="draft", iterations=2)
    with pytest.raises(nst_errors.EngineError) as e:
        nc.run_engine(nst_jobs.build_argv(cfg, job), nc.engine_env(cfg), str(tmp_path / "stderr.log"),
                      popen_kw=nc.popen_kwargs(cfg, str(tmp_path)))
    assert e.value.code in ("weights_missing", "bad_input"), str(e.value)
    assert "nope.pt" in str(e.value)


def test_real_engine_stops_when_the_plugin_is_killed(engine_cfg, content_png, shared_images,
                                                     tmp_path):
    """GIMP's Cancel SIGKILLs the plug-in; the engine (stdin pipe + --watch-stdin) must stop
    within about one step, and write nothing."""
    out = tmp_path / "result.png"
    job = nst_jobs.Job(content=str(content_png), style=str(shared_images / "starry_night.jpg"),
                       output=str(out), layer_size=(96, 72), preset="balanced", iterations=500, seed=9)
    argv = nst_jobs.build_argv(engine_cfg, job)
    events = tmp_path / "events.jsonl"
    plugin = tmp_path / "plugin.py"
    plugin.write_text(textwrap.dedent(f"""
        import json, os, sys
        sys.path.insert(0, {str(PLUGIN_DIR)!r})
        import nst_client as nc
        log = open({str(events)!r}, "a")
        def on_event(ev):
            log.write(json.dumps(ev) + "\\n"); log.flush()
        nc.run_engine({argv!r}, nc.engine_env(), {str(tmp_path / 'stderr.log')!r}, on_event,
                      popen_kw={{"cwd": {engine_cfg.engine_path!r}}})
    """))
    p = subprocess.Popen([sys.executable, str(plugin)])
    engine_pid = None
    t = time.time()
    while time.time() - t < 120:
        if events.exists() and '"progress"' in events.read_text():
            break
        assert p.poll() is None, "the plug-in side ended early: " + (tmp_path / "stderr.log").read_text()
        time.sleep(0.1)
    else:
        pytest.fail("the engine never reported progress")
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if pid.isdigit():
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
                stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if b"nst_engine" in cmd and stat[1] == str(p.pid):
                engine_pid = int(pid)
    assert engine_pid, "engine process not found"
    p.send_signal(signal.SIGKILL)
    p.wait()
    t = time.time()
    while time.time() - t < 30:
        try:
            with open(f"/proc/{engine_pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                break
        except OSError:
            break
        time.sleep(0.1)
    gone_after = time.time() - t
    assert gone_after < 30, "the engine kept running after the plug-in died"
    assert not out.exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith("result") or n.endswith(".tmp")]


def test_dialog_times_come_from_the_engines_own_calibration(engine_cfg, tmp_path):
    """The plug-in finds the engine's calibration cache (the contract's folder rule, here the
    XDG one) and shows its estimates."""
    env = {**os.environ, "NST_CACHE_DIR": "", "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    code = ("import torch, sys; sys.path.insert(0, 'tests/engine'); from engine_helpers import tiny_vgg; "
            "from nst_engine.transfer import numerics; numerics.resolve(tiny_vgg(), torch.device('cpu'), 'vgg16')")
    subprocess.run([ENGINE_PYTHON, "-c", code], env=env, check=True, cwd=engine_cfg.engine_path)
    assert (tmp_path / "xdg" / "gimp-neural-style" / "calibration.json").is_file()
    text = nst_progress.preset_times_text("vgg16", "cpu", env)
    assert text != nst_progress.PRESET_TIMES_TEXT and "Estimated for this computer" in text
    assert re.search(r"draft about \d+ s", text), text


def _pump(engine, until, timeout=300):
    """Collect the preview engine's events as the dialog does: wait for output (select, like
    GLib's IO watch), then read what is there without blocking."""
    import select
    events, t = [], time.time()
    while time.time() - t < timeout:
        ready, _, _ = select.select([engine.fileno()], [], [], 1.0)
        if ready:
            new, ended = engine.read_events()
            events += new
            if ended or any(until(e) for e in new):
                return events
    raise AssertionError(f"no end after {timeout}s: {events[-3:]}")


def test_preview_engine_newest_job_wins_and_close_reaps(engine_cfg, content_png, shared_images, tmp_path):
    """PreviewEngine (the dialog's client of ``serve``): a second job cancels the first, only
    the current job's events come back, snapshots arrive before the end, close() reaps."""
    engine = nc.PreviewEngine(engine_cfg, str(tmp_path / "serve.log"), nc.popen_kwargs(engine_cfg, str(tmp_path)))
    try:
        t = time.time()
        assert engine.read_events() == ([], False) and time.time() - t < 0.5   # never blocks
        style = str(shared_images / "starry_night.jpg")
        slow = nst_jobs.preview_job(str(content_png), style, str(tmp_path / "slow.png"), (96, 72))
        slow.iterations = 500
        first = engine.submit(slow)
        _pump(engine, lambda e: e["event"] == "progress")
        second = engine.submit(nst_jobs.preview_job(str(content_png), style, str(tmp_path / "p.png"), (96, 72),
                                                    strength=0.8))
        assert second == first + 1
        events = _pump(engine, lambda e: e["event"] in ("done", "error"))
        assert {e["id"] for e in events} == {second}
        assert events[-1]["event"] == "done", events[-1]
        # a 96 px layer is one scale (under twice the preview's coarsest side): a snapshot every
        # PREVIEW_SNAPSHOT_EVERY steps, none at the last (the result itself)
        every, steps = nst_jobs.PREVIEW_SNAPSHOT_EVERY, nst_jobs.PREVIEW_ITERATIONS
        assert [e["step"] for e in events if e["event"] == "snapshot"] == list(range(every, steps, every))
        assert not (tmp_path / "slow.png").exists()
    finally:
        t = time.time()
        engine.close()
    assert engine.proc.returncode == 0 and time.time() - t < 10
