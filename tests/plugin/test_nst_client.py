"""Fast tests of the plug-in's GIMP-independent half (plugin/neural-style-transfer/nst_client.py).

No GIMP, no torch: plain CPython. The protocol tests drive small fake engines written
here; tests with the real engine are in test_engine_client.py."""
from __future__ import annotations

import ast
import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).resolve().parent.parent.parent / "plugin" / "neural-style-transfer"
sys.path.insert(0, str(PLUGIN_DIR))
import calibration_cases  # noqa: E402
import nst_client as nc  # noqa: E402
from nst_contract import events as contract_events, process as contract_process  # noqa: E402
import nst_config  # noqa: E402
import nst_errors  # noqa: E402
import nst_files  # noqa: E402
import nst_jobs  # noqa: E402
import nst_progress  # noqa: E402
import nst_regions  # noqa: E402
import nst_tempdirs  # noqa: E402


# ----------------------------------------------------------------------------- config

def write_config(tmp_path, data, name="nst-config.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return p


@pytest.fixture
def fake_python(tmp_path):
    p = tmp_path / "venv" / "bin" / "python"
    p.parent.mkdir(parents=True)
    p.write_text("#!/bin/sh\n")
    p.chmod(0o755)
    return p


def test_config_missing_says_run_install(tmp_path):
    with pytest.raises(nst_errors.ConfigError) as e:
        nst_config.load_config(str(tmp_path / "nst-config.json"))
    msg = str(e.value)
    assert "nst-config.json" in msg and "install.py" in msg and "not configured" in msg


def test_config_path_next_to_plugin_and_env_override(tmp_path):
    assert nst_config.config_path({}, directory=str(tmp_path)) == str(tmp_path / "nst-config.json")
    assert nst_config.config_path({}) == str(PLUGIN_DIR / "nst-config.json")
    other = tmp_path / "x.json"
    assert nst_config.config_path({"NST_PLUGIN_CONFIG": str(other)}) == str(other)


def test_config_env_override_is_used(tmp_path, fake_python):
    p = write_config(tmp_path, {"engine_python": str(fake_python)}, "elsewhere.json")
    cfg = nst_config.load_config(environ={"NST_PLUGIN_CONFIG": str(p)})
    assert cfg.engine_python == str(fake_python) and cfg.path == str(p)


def test_config_full(tmp_path, fake_python):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"x")
    p = write_config(tmp_path, {
        "engine_python": "venv/bin/python",            # relative to the config's folder
        "engine_path": str(tmp_path),
        "weights": str(weights), "model": "vgg16", "device": "cpu", "threads": 2,
        "extra_args": ["--pooling", "avg"], "env": {"OMP_NUM_THREADS": "2"},
        "temp_dir": "tmpdir", "future_key": 1})
    cfg = nst_config.load_config(str(p))
    assert cfg.engine_python == str(fake_python)
    assert cfg.engine_path == str(tmp_path) and cfg.weights == str(weights)
    assert (cfg.model, cfg.device, cfg.threads) == ("vgg16", "cpu", 2)
    assert cfg.extra_args == ["--pooling", "avg"] and cfg.env == {"OMP_NUM_THREADS": "2"}
    assert cfg.temp_dir == str(tmp_path / "tmpdir")


@pytest.mark.parametrize("data,fragment", [
    ("{not json", "cannot be read"),
    ("[" * 100000 + "]" * 100000, "cannot be read"),  # deep enough for a RecursionError in json
    ("[1, 2]", "not a JSON object"),
    ({}, "no \"engine_python\""),
    ({"engine_python": "/nonexistent/python"}, "does not exist"),
])
def test_config_errors(tmp_path, data, fragment):
    with pytest.raises(nst_errors.ConfigError) as e:
        nst_config.load_config(str(write_config(tmp_path, data)))
    assert fragment in str(e.value) and "install.py" in str(e.value)


def test_config_weights_missing(tmp_path, fake_python):
    p = write_config(tmp_path, {"engine_python": str(fake_python), "weights": "/nope/w.pt"})
    with pytest.raises(nst_errors.ConfigError) as e:
        nst_config.load_config(str(p))
    assert "weights" in str(e.value) and "/nope/w.pt" in str(e.value)


@pytest.mark.parametrize("key,value", [("threads", "2"), ("extra_args", "--x"), ("env", {"A": 1}),
                                       ("model", 3)])
def test_config_type_errors(tmp_path, fake_python, key, value):
    p = write_config(tmp_path, {"engine_python": str(fake_python), key: value})
    with pytest.raises(nst_errors.ConfigError) as e:
        nst_config.load_config(str(p))
    assert key in str(e.value)


# ----------------------------------------------------------------------------- argv

def cfg(**kw):
    c = nst_config.Config(path="/c.json", engine_python="/venv/bin/python")
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def job(**kw):
    base = dict(content="/t/content.png", style="/s/style.jpg", output="/t/result.png",
                layer_size=(800, 600))
    base.update(kw)
    return nst_jobs.Job(**base)


def opt(argv, name):
    return argv[argv.index(name) + 1]


def test_argv_basics():
    argv = nst_jobs.build_argv(cfg(), job())
    assert argv[:5] == ["/venv/bin/python", "-m", "nst_engine", "stylize", "/t/content.png"]
    assert opt(argv, "--style") == "/s/style.jpg" and opt(argv, "-o") == "/t/result.png"
    assert opt(argv, "--progress") == "json" and "--watch-stdin" in argv
    assert opt(argv, "--quality") == "balanced"
    assert opt(argv, "--strength") == "0.5" and opt(argv, "--preserve-color") == "none"
    assert opt(argv, "--seed") == "0"
    # issue 14: the layer's own size is the engine's default (the content's, reduced only past its limit/memory)
    for absent in ("--size", "--mask", "--iterations", "--model", "--weights", "--device", "--threads"):
        assert absent not in argv


@pytest.mark.parametrize("preset,quality,size", [("draft", "draft", "1024"),
                                                 ("balanced", "balanced", None),
                                                 ("best", "best", None)])  # layer is 3000 px: its own size
def test_argv_presets(preset, quality, size):
    argv = nst_jobs.build_argv(cfg(), job(preset=preset, layer_size=(3000, 2000)))
    assert opt(argv, "--quality") == quality
    assert (opt(argv, "--size") if "--size" in argv else None) == size


def test_argv_options_and_config():
    argv = nst_jobs.build_argv(cfg(model="vgg16", weights="/w.pt", device="cpu", threads=2,
                                   extra_args=["--pooling", "avg"]),
                         job(mask="/t/mask.png", strength=0.8, preserve_color=True, seed=7,
                                   iterations=30, size=300, preset="draft"))
    assert opt(argv, "--mask") == "/t/mask.png"
    assert opt(argv, "--strength") == "0.8" and opt(argv, "--preserve-color") == "luminance"
    assert opt(argv, "--seed") == "7" and opt(argv, "--iterations") == "30"
    assert opt(argv, "--size") == "300"           # explicit size beats the preset's cap
    assert opt(argv, "--model") == "vgg16" and opt(argv, "--weights") == "/w.pt"
    assert opt(argv, "--device") == "cpu" and opt(argv, "--threads") == "2"
    assert argv[-2:] == ["--pooling", "avg"]


def test_argv_strength_clamped_and_bad_preset():
    assert opt(nst_jobs.build_argv(cfg(), job(strength=3)), "--strength") == "1"
    assert opt(nst_jobs.build_argv(cfg(), job(strength=-1)), "--strength") == "0"
    with pytest.raises(nst_errors.NstError):
        nst_jobs.build_argv(cfg(), job(preset="ultra"))


@pytest.mark.parametrize("w,h,size,preset,expected", [
    # issue 14: balanced and best compute the layer's own size, draft is capped at 1024 px
    (800, 600, 0, "balanced", 800), (300, 200, 0, "balanced", 300), (300, 200, 0, "draft", 300),
    (3000, 2000, 0, "best", 3000), (3000, 2000, 0, "draft", 1024), (3000, 2000, 2000, "draft", 2000),
    (300, 200, 2000, "best", 300),
    (10, 8, 0, "draft", 10), (600, 900, 100, "best", 100)])
def test_result_size(w, h, size, preset, expected):
    assert nst_jobs.result_size(w, h, size, preset) == expected


def test_a_layer_under_the_engines_smallest_side_is_refused_in_the_dialogs_words():
    """Issue 12: the smallest result side is the contract's MIN_SIDE (32 px), not 16: a 20 px
    layer is refused by the plug-in, naming the layer and what to do, not the engine's --size."""
    for size in [(20, 20), (20, 300), (5000, 20)]:
        with pytest.raises(nst_errors.NstError) as e:
            nst_jobs.build_argv(cfg(), job(layer_size=size))
        text = str(e.value)
        assert f"{size[0]} x {size[1]} px" in text and "at least 32 px" in text and "--size" not in text
    assert opt(nst_jobs.build_argv(cfg(), job(layer_size=(32, 32))), "--quality") == "balanced"


def test_a_too_small_or_capped_result_is_raised_to_the_engines_smallest_side():
    # an explicit size that would give a shorter side under 32 px: the smallest that works
    assert nst_jobs.result_size(800, 600, 20, "balanced") == 43    # 43 x 32
    assert opt(nst_jobs.build_argv(cfg(), job(size=20)), "--size") == "43"
    # draft's 1024 px cap on a long strip: raised so the strip is 32 px high
    assert nst_jobs.result_size(10000, 300, 0, "draft") == 1067
    assert nst_jobs.fit_longest(10000, 300, 1067)[1] == 32
    # the preview of such a strip keeps 32 px too (the dialog's preview is then wider)
    assert nst_jobs.preview_size(4000, 300) == (427, 32)
    p = nst_jobs.preview_job("c.png", "s.png", "o.png", nst_jobs.preview_size(4000, 300))
    assert opt(nst_jobs.stylize_args(p), "--size") == "427"


# ----------------------------------------------------------------------------- env, popen

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


def test_temp_root(tmp_path):
    assert nst_tempdirs.temp_root(cfg(), environ={}) in (None, os.path.join(os.path.expanduser("~/.cache"),
                                                                            "nst-gimp-tmp"))
    assert nst_tempdirs.temp_root(cfg(temp_dir=str(tmp_path / "t")), environ={}) == str(tmp_path / "t")
    assert (tmp_path / "t").is_dir()
    root = nst_tempdirs.temp_root(cfg(), environ={"FLATPAK_ID": "org.gimp.GIMP",
                                        "XDG_CACHE_HOME": str(tmp_path / "c")})
    assert root == str(tmp_path / "c" / "nst-gimp-tmp")


# ----------------------------------------------------------------------------- protocol

def test_parse_event():
    assert contract_events.parse_event('{"event": "done", "output": "x"}\n') == {"event": "done", "output": "x"}
    assert contract_events.parse_event(b'{"event": "start"}') == {"event": "start"}
    for junk in ("", "hello", "{broken", '{"no_event": 1}', "[1]", '{"event": 3}'):
        assert contract_events.parse_event(junk) is None


def test_format_duration():
    assert nst_progress.format_duration(0) == "0:00"
    assert nst_progress.format_duration(65) == "1:05"
    assert nst_progress.format_duration(59.6) == "1:00"
    assert nst_progress.format_duration(3725) == "1:02:05"
    assert nst_progress.format_duration(-3) == "0:00"


def test_progress_text_and_fraction():
    ev = {"event": "progress", "scale": 1, "scales": 3, "size": [256, 171], "step": 40,
          "steps": 100, "fraction": 0.42, "elapsed_s": 10.0, "eta_s": 65.2}
    assert nst_progress.progress_text(ev) == "Scale 2/3, step 40/100, 1:05 left"
    assert nst_progress.progress_fraction(ev) == 0.42
    assert nst_progress.progress_text({"event": "progress", "step": 3, "steps": 9}) == "step 3/9"
    setup = {"event": "progress", "scale": 3, "scales": 4, "step": 0, "steps": 3, "tile": [2, 12], "eta_s": 65}
    assert nst_progress.progress_text(setup) == "Scale 4/4, preparing, tile 2/12, 1:05 left"
    assert nst_progress.progress_fraction({"event": "progress", "fraction": 1.7}) == 1.0
    assert nst_progress.progress_fraction({"event": "start"}) is None
    assert nst_progress.progress_fraction({"event": "done"}) == 1.0
    start = {"event": "start", "total_steps": 340, "device": "cpu"}
    assert nst_progress.progress_text(start) == "Neural style transfer: starting (340 steps, on cpu)"


def test_engine_error_text():
    e = nst_errors.EngineError("bad_input", "style image 'x.jpg' does not exist: check the path",
                               returncode=2, stderr_tail="line1\nline2")
    s = str(e)
    assert s.startswith("The style transfer engine rejected the input: style image 'x.jpg'")
    assert "exit status 2" in s and s.endswith("line1\nline2")
    w = str(nst_errors.EngineError("weights_missing", "no weights", returncode=3))
    assert "install.py" in w
    full = str(nst_errors.EngineError("disk_full", "the disk holding '/tmp/x' is full", returncode=5))
    assert full.startswith("There is not enough free disk space to save the result: the disk holding")
    assert "exit status 5" in full


def test_tail(tmp_path):
    p = tmp_path / "err.log"
    p.write_text("\n".join(f"line {i}" for i in range(100)))
    t = contract_process.tail(str(p), lines=3)
    assert t == "line 97\nline 98\nline 99"
    assert contract_process.tail(str(tmp_path / "missing")) == ""


# ----------------------------------------------------------------------------- fake engines

FAKE_HEADER = """\
import json, sys, time, os
def ev(**k):
    print(json.dumps(k), flush=True)
args = sys.argv[1:]
out = args[args.index('-o') + 1] if '-o' in args else None
"""


def fake(tmp_path, body, name="fake_engine.py"):
    p = tmp_path / name
    p.write_text(FAKE_HEADER + textwrap.dedent(body))
    return [sys.executable, str(p)]


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


# ----------------------------------------------------------------------------- regions

LAYER = (10, 20, 100, 50)   # x, y, w, h in image coordinates


@pytest.mark.parametrize("mode,has_mask,sel,expected", [
    ("auto", True, (0, 0, 30, 30), "mask"),
    ("auto", False, (0, 0, 30, 30), "selection"),
    ("auto", False, None, "none"),
    ("none", True, (0, 0, 30, 30), "none"),
    ("mask", True, None, "mask"),
    ("selection", True, (50, 30, 5, 5), "selection"),
])
def test_choose_region(mode, has_mask, sel, expected):
    assert nst_regions.choose_region(mode, has_mask, sel, LAYER) == expected


@pytest.mark.parametrize("mode,has_mask,sel,fragment", [
    ("mask", False, None, "has no layer mask"),
    ("selection", False, None, "selection is empty"),
    ("selection", False, (200, 200, 5, 5), "does not overlap"),
    ("auto", False, (0, 0, 10, 10), "does not overlap"),     # touches only the corner
    ("bogus", False, None, "Unknown region"),
])
def test_choose_region_errors(mode, has_mask, sel, fragment):
    with pytest.raises(nst_errors.RegionError) as e:
        nst_regions.choose_region(mode, has_mask, sel, LAYER)
    assert fragment in str(e.value)


def test_intersect_and_selection_rect():
    assert nst_regions.intersect((0, 0, 10, 10), (5, 5, 10, 10)) == (5, 5, 5, 5)
    assert nst_regions.intersect((0, 0, 10, 10), (10, 0, 5, 5)) is None
    assert nst_regions.selection_rect_in_layer((0, 0, 30, 30), LAYER) == (0, 0, 20, 10)
    assert nst_regions.selection_rect_in_layer((50, 40, 200, 200), LAYER) == (40, 20, 60, 30)
    assert nst_regions.selection_rect_in_layer((500, 500, 2, 2), LAYER) is None


def test_crop_plane():
    plane = bytes(range(12))          # 4 x 3
    assert nst_regions.crop_plane(plane, 4, 3, (1, 1, 2, 2)) == bytes([5, 6, 9, 10])
    # sticking out: the outside is filled
    assert nst_regions.crop_plane(plane, 4, 3, (-1, 2, 3, 2), fill=0) == bytes([0, 8, 9, 0, 0, 0])
    assert nst_regions.crop_plane(plane, 4, 3, (10, 10, 2, 1)) == bytes(2)


def test_mask_is_empty():
    assert nst_regions.mask_is_empty(bytes(10))
    assert not nst_regions.mask_is_empty(bytes(9) + b"\x01")


def test_compose_result():
    src = bytes([10, 20, 30, 255, 11, 21, 31, 128, 12, 22, 32, 0, 13, 23, 33, 255])
    res = bytes([100, 100, 100, 255] * 4)
    # no region: engine colours, source alpha
    assert nst_regions.compose_result(res, src, None) == bytes([100, 100, 100, 255, 100, 100, 100, 128,
                                                       100, 100, 100, 0, 100, 100, 100, 255])
    # region: mask 0 -> source pixel exactly; >0 -> engine colour (the layer mask blends)
    out = nst_regions.compose_result(res, src, bytes([0, 255, 128, 0]))
    assert out == bytes([10, 20, 30, 255, 100, 100, 100, 128, 100, 100, 100, 0, 13, 23, 33, 255])
    with pytest.raises(ValueError):
        nst_regions.compose_result(res, src, bytes(3))


def test_compose_result_large_is_fast():
    n = 1024 * 1024
    src = bytes(4 * n)
    res = bytes([1]) * (4 * n)
    mask = (bytes(512) + bytes([255]) * 512) * 1024
    t = time.time()
    out = nst_regions.compose_result(res, src, mask)
    assert time.time() - t < 2.0
    assert out[:4] == bytes(4) and out[4 * 512:4 * 512 + 4] == bytes([1, 1, 1, 0])


# ----------------------------------------------------------------------------- temp folders

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


def test_style_layer_name():
    assert nst_files.style_layer_name("/x/y/starry_night.jpg") == "Style: starry_night"
    assert nst_files.style_layer_name("matisse layer", is_file=False) == "Style: matisse layer"
    assert nst_files.style_layer_name("  ", is_file=False) == "Style: style"


# ----------------------------------------------------------------------------- hygiene

# The plug-in's GIMP-independent modules (all but the GIMP file and the dialog's preview).
CLIENT_MODULES = sorted(p for p in PLUGIN_DIR.glob("nst_*.py") if p.name != "nst_preview.py")


def test_client_uses_only_the_standard_library():
    names = set()
    for path in CLIENT_MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    names -= {p.stem for p in CLIENT_MODULES} | {"nst_contract"}   # each other, the contract (stdlib only too)
    stdlib = getattr(sys, "stdlib_module_names", None)
    allowed = {"__future__", "json", "os", "re", "shutil", "subprocess", "sys", "tempfile", "time",
               "dataclasses", "typing", "ctypes"}
    assert names <= (set(stdlib) | {"__future__"} if stdlib else allowed), names


def test_client_imports_in_isolated_python():
    r = subprocess.run([sys.executable, "-I", "-c",
                        f"import sys; sys.path.insert(0, {str(PLUGIN_DIR)!r}); import nst_client, nst_jobs; "
                        "print(nst_jobs.PRESETS['draft'])"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_plugin_file_declares_the_fixed_names():
    src = (PLUGIN_DIR / "neural-style-transfer.py").read_text()
    compile(src, "neural-style-transfer.py", "exec")
    assert src.startswith("#!/usr/bin/env python3")
    assert os.access(PLUGIN_DIR / "neural-style-transfer.py", os.X_OK)
    assert 'PROC_NAME = "plug-in-neural-style-transfer"' in src
    assert '"<Image>/Filters/Artistic"' in src and '"_Neural Style Transfer..."' in src
    for arg in ("style-file", "style-layer", "strength", "preset", "size", "preserve-color",
                "region", "seed", "iterations", "style-source"):
        assert f'"{arg}", ' in src, arg
    # nothing torch-like in the GIMP process
    assert "import torch" not in src and "import nst_engine" not in src


# ----------------------------------------------------------------------------- visualize

def vjob(**kw):
    base = dict(inputs=["/pics"], output="/t/units.png", index="/t/units.json")
    base.update(kw)
    return nst_jobs.VisualizeJob(**base)


def test_engine_argv_is_shared_by_both_commands():
    c = cfg(model="vgg16", weights="/w.pt", device="cpu", threads=2)
    argv = nst_jobs.engine_argv(c, "visualize", ["/pics", "-o", "/o.png"], ["--pooling", "avg"])
    assert argv[:6] == ["/venv/bin/python", "-m", "nst_engine", "visualize", "/pics", "-o"]
    assert opt(argv, "--progress") == "json" and "--watch-stdin" in argv
    assert opt(argv, "--model") == "vgg16" and opt(argv, "--weights") == "/w.pt"
    assert opt(argv, "--device") == "cpu" and opt(argv, "--threads") == "2"
    assert argv[-2:] == ["--pooling", "avg"]


def test_visualize_argv_defaults():
    argv = nst_jobs.build_visualize_argv(cfg(extra_args=["--optimizer", "adam"]), vjob())
    assert argv[:5] == ["/venv/bin/python", "-m", "nst_engine", "visualize", "/pics"]
    assert opt(argv, "-o") == "/t/units.png" and opt(argv, "--json") == "/t/units.json"
    assert opt(argv, "--progress") == "json" and "--watch-stdin" in argv
    assert (opt(argv, "--units"), opt(argv, "--top"), opt(argv, "--size"), opt(argv, "--cell")) == \
        ("9", "9", "256", "64")
    # no --layers: the engine's default; stylize's extra_args never reach visualize
    for absent in ("--layers", "--gradients", "--optimizer", "--model", "--weights"):
        assert absent not in argv


def test_visualize_argv_options_and_config():
    c = cfg(model="vgg16", weights="/w.pt", device="cpu", threads=2,
            visualize_extra_args=["--backend", "torch"])
    argv = nst_jobs.build_visualize_argv(c, vjob(inputs=["/t/images/01-a.png", "/t/images/02-b.png"],
                                                 layers=" relu1_1, relu2_1 ;conv3_1 ", units=2, top=3,
                                                 size=64, cell=32, gradients=True))
    assert argv[4:6] == ["/t/images/01-a.png", "/t/images/02-b.png"]
    assert opt(argv, "--layers") == "relu1_1,relu2_1,conv3_1"
    assert (opt(argv, "--units"), opt(argv, "--top"), opt(argv, "--size"), opt(argv, "--cell")) == \
        ("2", "3", "64", "32")
    assert "--gradients" in argv
    assert opt(argv, "--model") == "vgg16" and opt(argv, "--threads") == "2"
    assert argv[-2:] == ["--backend", "torch"]


def test_visualize_argv_needs_inputs():
    with pytest.raises(nst_errors.NstError) as e:
        nst_jobs.build_visualize_argv(cfg(), vjob(inputs=[]))
    assert "No images to visualize" in str(e.value)


def test_normalize_layers():
    assert nst_jobs.normalize_layers("relu1_1, relu2_1") == "relu1_1,relu2_1"
    assert nst_jobs.normalize_layers(" relu1_1  relu3_1,,") == "relu1_1,relu3_1"
    assert nst_jobs.normalize_layers("") == "" and nst_jobs.normalize_layers(None) == ""


def test_config_visualize_extra_args(tmp_path, fake_python):
    p = write_config(tmp_path, {"engine_python": str(fake_python), "extra_args": ["--x"],
                                "visualize_extra_args": ["--backend", "torch"]})
    c = nst_config.load_config(str(p))
    assert c.extra_args == ["--x"] and c.visualize_extra_args == ["--backend", "torch"]
    bad = write_config(tmp_path, {"engine_python": str(fake_python),
                                  "visualize_extra_args": "--backend"}, "bad.json")
    with pytest.raises(nst_errors.ConfigError) as e:
        nst_config.load_config(str(bad))
    assert "visualize_extra_args" in str(e.value)


def test_check_folder(tmp_path):
    assert nst_files.check_folder(str(tmp_path)) == str(tmp_path)
    with pytest.raises(nst_errors.NstError) as e:
        nst_files.check_folder(str(tmp_path / "nope"))
    assert "does not exist" in str(e.value)
    f = tmp_path / "a.png"
    f.write_bytes(b"x")
    with pytest.raises(nst_errors.NstError) as e:
        nst_files.check_folder(str(f))
    assert "is not a folder" in str(e.value)


def test_export_file_names():
    names = nst_files.export_file_names(["tubingen.jpg", "[Untitled]", "Tübingen photo.xcf", "",
                                  "/x/y/a.b.png", "tubingen.jpg"])
    assert names == ["01-tubingen.png", "02-Untitled.png", "03-T_bingen_photo.png",
                     "04-image.png", "05-a.b.png", "06-tubingen.png"]
    assert len(set(names)) == len(names)
    many = nst_files.export_file_names(["x"] * 120)
    assert many[0] == "001-x.png" and many[-1] == "120-x.png"
    assert sorted(many) == many            # the engine sorts by name: GIMP's order is kept
    assert len(nst_files.export_file_names(["a" * 300])[0]) <= 3 + 60 + 4


def test_read_index(tmp_path):
    p = tmp_path / "units.json"
    p.write_text(json.dumps({"version": 1, "picture_size": [394, 360], "layers": []}))
    assert nst_files.read_index(str(p))["picture_size"] == [394, 360]
    for bad in ("{broken", json.dumps({"picture_size": [0, 5]}), json.dumps([1])):
        p.write_text(bad)
        with pytest.raises(nst_errors.EngineError) as e:
            nst_files.read_index(str(p))
        assert str(e.value).startswith("The network visualization engine failed")
    with pytest.raises(nst_errors.EngineError):
        nst_files.read_index(str(tmp_path / "missing.json"))


def test_visualize_progress_text():
    start = {"event": "start", "command": "visualize", "images": 8,
             "skipped": [{"path": "/p/x.jpg", "reason": "r"}], "backend": "onnx", "device": "cpu"}
    assert nst_progress.progress_text(start) == \
        "Visualize network units: starting (8 images, 1 skipped, onnx on cpu)"
    assert nst_progress.progress_text({"event": "start", "command": "visualize", "images": 1,
                             "skipped": []}) == "Visualize network units: starting (1 image)"
    scan = {"event": "progress", "stage": "scan", "step": 1, "steps": 8, "fraction": 0.118,
            "eta_s": 17.1, "image": "/p/a.jpg", "label": "scan 1/8 a.jpg"}
    assert nst_progress.progress_text(scan) == "Scanning image 1/8 (a.jpg), 0:17 left"
    assert nst_progress.progress_fraction(scan) == 0.118
    grad = {"event": "progress", "stage": "gradients", "step": 9, "steps": 405, "fraction": 0.62,
            "eta_s": 5.5, "image": None}
    assert nst_progress.progress_text(grad) == "Gradients 9/405, 0:06 left"
    render = {"event": "progress", "stage": "render", "step": 1, "steps": 1, "fraction": 1.0,
              "eta_s": 0.0}
    assert nst_progress.progress_text(render) == "Drawing the picture"
    assert nst_progress.progress_text({"event": "progress", "stage": "future", "label": "x 1/2"}) == "x 1/2"
    done = {"event": "done", "command": "visualize", "output": "/o.png", "size": [10, 10]}
    assert nst_progress.progress_text(done) == "Visualize network units: done"
    assert nst_progress.progress_fraction(done) == 1.0
    # stylize's events are unaffected
    assert nst_progress.progress_text({"event": "done", "output": "/o.png"}) == "Neural style transfer: done"


def test_engine_error_text_names_the_task():
    e = nst_errors.EngineError("bad_input", "no usable images found in '/p'", returncode=2,
                               task=nst_errors.VISUALIZE_TASK)
    assert str(e).startswith("The network visualization engine rejected the input: no usable")
    assert "exit status 2" in str(e)
    m = str(nst_errors.EngineError("out_of_memory", "too big", task=nst_errors.VISUALIZE_TASK))
    assert m.startswith("The network visualization does not fit in this computer's memory")
    assert str(nst_errors.EngineError("out_of_memory", "x")).startswith(
        "The image is too large for this computer")


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


def test_plugin_file_declares_the_visualize_procedure():
    src = (PLUGIN_DIR / "neural-style-transfer.py").read_text()
    assert 'VIS_PROC_NAME = "plug-in-neural-style-visualize"' in src
    assert "return [PROC_NAME, VIS_PROC_NAME]" in src
    assert '"<Image>/Filters/Artistic/Neural Style"' in src
    assert '"_Visualize Network Units..."' in src
    for arg in ("folder", "layers", "units", "top", "size", "cell", "gradients"):
        assert f'"{arg}", ' in src, arg


# ----------------------------------------------------------------------------- time estimates

def calibration(tmp_path, entries):
    """A cache of ``entries``, each completed with the fields the engine writes into every entry
    (the reader, nst_contract.calibration, refuses entries without them)."""
    base = {k: calibration_cases.GOOD[k] for k in ("table", "size", "choice", "measured_at")}
    path = tmp_path / "cache" / "calibration.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"entries": {k: {**base, **e} for k, e in entries.items()}}))
    return {"NST_CACHE_DIR": str(path.parent)}


def estimates(scale):
    return {q: {str(side): scale * n * side for side in (256, 512, 1024)}
            for q, n in (("draft", 0.05), ("balanced", 0.2), ("best", 1.0))}


def test_preset_times_come_from_this_computers_newest_calibration(tmp_path):
    env = calibration(tmp_path, {
        "old": {"model": "vgg16", "device": "cpu", "measured_at": "2026-01-01T00:00:00", "estimates": estimates(10)},
        "new": {"model": "vgg16", "device": "cpu", "measured_at": "2026-11-30T04:00:00", "estimates": estimates(1)},
        "19": {"model": "vgg19", "device": "cpu", "measured_at": "2026-11-30T05:00:00", "estimates": estimates(2)}})
    text = nst_progress.preset_times_text("vgg16", "auto", env)
    # newest vgg16 entry, all presets at the photo's own 1024 px (issue 14: presets are no size caps
    # below 1024 px any more): draft 0.05·1024 = 51 s, balanced 0.2·1024 = 205 s, best 1024 s
    assert "measured 2026-11-30" in text
    assert "draft about 50 s, balanced about 3 min, best about 17 min" in text
    assert "Cancel" in text
    assert "best about 34 min" in nst_progress.preset_times_text(None, None, env)  # the engine's default, vgg19


def test_preset_times_for_the_layer_interpolate_the_engines_table(tmp_path):
    table = {"256": 10.0, "512": 40.0, "1024": 200.0, "2048": 1000.0, "4096": 6000.0}
    assert nst_progress.estimate_seconds(table, 1024, 768, 1024) == pytest.approx(200.0)
    assert 200 < nst_progress.estimate_seconds(table, 1448, 1086, 1448) < 1000
    assert nst_progress.estimate_seconds(table, 1024, 1024, 1024) == pytest.approx(200 * 4 / 3)  # square: more pixels
    assert nst_progress.estimate_seconds(table, 128, 96, 128) == pytest.approx(2.5)  # below the table: its slope
    entry = {"model": "vgg19", "device": "cpu", "measured_at": "2026-11-30T05:00:00", "size_limit": 4096,
             "estimates": {q: {k: v * f for k, v in table.items()} for q, f in
                           (("draft", 0.1), ("balanced", 1.0), ("best", 3.0))}}
    env = calibration(tmp_path, {"e": entry})
    text = nst_progress.preset_times_text(None, None, env, (2048, 1536))
    assert "this 2048 x 1536 layer" in text
    assert "draft about 20 s at 1024 px, balanced about 17 min, best about 50 min" in text
    big = nst_progress.preset_times_text(None, None, env, (6000, 4500))
    assert "larger than 4096 px" in big and "best about 5.0 h at 4096 px" in big


@pytest.mark.parametrize("content", [None, "{broken", json.dumps({"entries": {"x": {"model": "vgg16"}}})])
def test_preset_times_fall_back_to_the_typical_times(tmp_path, content):
    env = {"NST_CACHE_DIR": str(tmp_path)}
    if content is not None:
        (tmp_path / "calibration.json").write_text(content)
    assert nst_progress.preset_times_text("vgg16", "cpu", env) == nst_progress.PRESET_TIMES_TEXT
    other_device = calibration(tmp_path, {"g": {"model": "vgg16", "device": "cuda", "estimates": estimates(1)}})
    assert nst_progress.preset_times_text("vgg16", "cpu", other_device) == nst_progress.PRESET_TIMES_TEXT


def test_event_lines_split_reads_anywhere():
    lines = contract_process.EventLines()
    assert lines.feed(b'{"event": "start", "id": 1}\n{"event": "pro') == [{"event": "start", "id": 1}]
    assert lines.feed(b'gress", "id": 1}\nnoise\n') == [{"event": "progress", "id": 1}]
    assert lines.feed(b"") == []


def test_preview_job_and_size():
    assert nst_jobs.preview_size(1024, 768) == (256, 192)
    assert nst_jobs.preview_size(100, 50) == (100, 50)   # small layers are not enlarged
    job = nst_jobs.preview_job("c.png", "s.png", "o.png", (256, 192), strength=0.7, seed=4)
    args = nst_jobs.stylize_args(job)
    assert opt(args, "--size") == "256" and opt(args, "--iterations") == str(nst_jobs.PREVIEW_ITERATIONS)
    assert opt(args, "--coarsest") == str(nst_jobs.PREVIEW_COARSEST)
    assert "--coarsest" not in nst_jobs.stylize_args(dataclasses.replace(job, coarsest=0))  # the engine's default
    assert opt(args, "--strength") == "0.7" and opt(args, "--seed") == "4"
    # the full run's command line is the same arguments behind the engine's prefix
    full = nst_jobs.build_argv(cfg(), job)
    assert full[3] == "stylize" and full[4:4 + len(args)] == args


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
    engine = nc.PreviewEngine(nst_config.Config(path="<t>", engine_python=str(wrapper)), str(tmp_path / "err.log"),
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
