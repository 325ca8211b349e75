"""Every bad input gets an ``error`` event with a helpful message and a non-zero exit.

Most cases call the real command line's ``main()`` in-process (the same code path
as ``python -m nst_engine``, minus a torch start-up per case); one runs as a
subprocess to check the wiring end to end.
"""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from engine_helpers import smooth_image
from nst_engine import cli


@pytest.fixture
def files(tmp_path, shared_images):
    smooth_image(96, 64).save(tmp_path / "content.png")
    Image.fromarray(np.full((32, 48), 255, np.uint8)).save(tmp_path / "small_mask.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "truncated.jpg").write_bytes((shared_images / "starry_night.jpg").read_bytes()[:300])
    Image.new("RGB", (2000, 40)).save(tmp_path / "strip.png")
    Image.new("L", (96, 64), 0).save(tmp_path / "black_mask.png")
    return tmp_path


def run_cli(argv, capsys):
    code = cli.main([*argv, "--progress", "json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return code, lines


CASES = [
    # (argv after "stylize", expected code, expected exit, words the message must contain)
    (["missing.png", "--style", "{s}", "-o", "{o}"], "bad_input", 2, ["does not exist"]),
    (["{d}/notes.txt", "--style", "{s}", "-o", "{o}"], "bad_input", 2, ["not an image"]),
    (["{d}/empty.png", "--style", "{s}", "-o", "{o}"], "bad_input", 2, ["not an image"]),
    (["{c}", "--style", "{d}/truncated.jpg", "-o", "{o}"], "bad_input", 2, ["truncated"]),
    (["{c}", "--style", "{d}", "-o", "{o}"], "bad_input", 2, ["folder"]),
    (["{c}", "-o", "{o}"], "bad_input", 2, ["no style image"]),
    (["{c}", "--style", "{s}", "--mask", "{d}/small_mask.png", "-o", "{o}"], "bad_input", 2, ["48x32", "96x64"]),
    (["{c}", "--style", "{s}", "--mask", "{d}/black_mask.png", "-o", "{o}"], "bad_input", 2, ["all black"]),
    (["{c}", "--style", "{s}", "--style-weight", "nan", "-o", "{o}"], "bad_input", 2, ["--style-weight", "finite"]),
    (["{c}", "--style", "{s}", "--content-weight", "-1", "-o", "{o}"], "bad_input", 2, ["--content-weight"]),
    (["{c}", "--style", "{s}", "--tv-weight", "inf", "-o", "{o}"], "bad_input", 2, ["--tv-weight"]),
    (["{c}", "--style", "{s}", "--strength", "1.5", "-o", "{o}"], "bad_input", 2, ["between 0 and 1"]),
    (["{c}", "--style", "{s}", "--style-blend", "0.5,0.5", "-o", "{o}"], "bad_input", 2, ["one per style"]),
    (["{c}", "--style", "{s}", "--style-layer-weights", "0,0,0,0,0", "-o", "{o}"], "bad_input", 2, ["all zero"]),
    (["{c}", "--style", "{s}", "--style-weight", "lots", "-o", "{o}"], "bad_input", 2, ["--style-weight"]),
    (["{c}", "--style", "{s}", "--content-layer", "relu9_9", "-o", "{o}"], "bad_input", 2, ["relu9_9", "relu4_2"]),
    (["{c}", "--style", "{s}", "--style-layers", "relu1_1,conv6_1", "-o", "{o}"], "bad_input", 2, ["conv6_1"]),
    (["{c}", "--style", "{s}", "--size", "0", "-o", "{o}"], "bad_input", 2, ["--size"]),
    (["{c}", "--style", "{s}", "--size", "16", "-o", "{o}"], "bad_input", 2, ["--size", "32"]),
    (["{d}/strip.png", "--style", "{s}", "--size", "256", "-o", "{o}"], "bad_input", 2, ["shorter side"]),
    (["{c}", "--style", "{s}", "--style-scale", "0", "-o", "{o}"], "bad_input", 2, ["--style-scale"]),
    (["{c}", "--style", "{s}", "--iterations", "0", "-o", "{o}"], "bad_input", 2, ["--iterations"]),
    (["{c}", "--style", "{s}", "-o", "{d}/no/such/folder/out.png"], "bad_input", 2, ["does not exist"]),
    (["{c}", "--style", "{s}", "-o", "{d}/out.xyz"], "bad_input", 2, [".png"]),
    (["{c}", "--style", "{s}", "-o", "{c}"], "bad_input", 2, ["overwrite"]),
    (["{c}", "--style", "{s}", "--device", "tpu", "-o", "{o}"], "bad_input", 2, ["tpu"]),
    (["{c}", "--style", "{s}", "--threads", "0", "-o", "{o}"], "bad_input", 2, ["--threads"]),
    (["{c}", "--style", "{s}", "--region", "{d}/small_mask.png:{s}", "--mask", "{d}/small_mask.png", "-o", "{o}"],
     "bad_input", 2, ["either"]),
    (["{c}", "--style", "{s}", "--model", "alexnet", "-o", "{o}"], "bad_input", 2, ["vgg19"]),
    (["{c}", "--style", "{s}", "--weights", "{d}/none.pt", "-o", "{o}"], "weights_missing", 3, ["does not exist"]),
    (["{c}", "--style", "{s}", "--weights", "{d}/notes.txt", "-o", "{o}"], "weights_missing", 3, ["state dict"]),
    (["{c}", "--style", "{s}", "--weights", "{w}", "--model", "vgg19", "-o", "{o}"], "weights_missing", 3,
     ["--model vgg16"]),
    (["{c}", "--style", "{s}", "--weights", "{w}", "--model", "vgg16", "--size", "200000", "-o", "{o}"],
     "out_of_memory", 4, ["largest size"]),
]


@pytest.mark.parametrize("argv, code, exit_code, words", CASES, ids=[" ".join(c[0][:1] + c[0][2:5]) for c in CASES])
def test_bad_input_is_explained(argv, code, exit_code, words, files, shared_images, fixture_weights, capsys):
    subst = {"c": files / "content.png", "s": shared_images / "starry_night.jpg", "o": files / "out.png",
             "d": files, "w": fixture_weights}
    before = sorted(p.name for p in files.iterdir())
    status, events = run_cli(["stylize", *[a.format(**subst) for a in argv]], capsys)
    assert status == exit_code
    assert events and events[-1]["event"] == "error", events
    assert events[-1]["code"] == code
    for word in words:
        assert word in events[-1]["message"], events[-1]["message"]
    assert sorted(p.name for p in files.iterdir()) == before  # nothing written, nothing left behind


def test_error_lines_are_valid_json_even_for_usage_errors(capsys):
    status, events = run_cli(["stylize", "--no-such-option"], capsys)
    assert status == 2 and events[-1]["code"] == "bad_input"


def test_offline_without_weights_says_both_fixes(files, shared_images, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("NST_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    import torchvision.models._api as api

    def offline(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)  # what torchvision's weights enum calls
    status, events = run_cli(["stylize", str(files / "content.png"), "--style", str(shared_images / "starry_night.jpg"),
                              "-o", str(files / "out.png")], capsys)
    assert status == 3
    message = events[-1]["message"]
    assert "install.py" in message and "--weights" in message and "NST_WEIGHTS" in message
    assert "vgg19-dcbb9e9d.pth" in message


def test_subprocess_error_event_and_exit_code(repo_dir, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nst_engine", "stylize", str(tmp_path / "missing.png"),
                           "--style", "x.jpg", "-o", str(tmp_path / "o.png"), "--progress", "json"],
                          cwd=repo_dir, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    event = json.loads(proc.stdout.strip().splitlines()[-1])
    assert event == {"event": "error", "code": "bad_input",
                     "message": f"content image {str(tmp_path / 'missing.png')!r} does not exist: check the path"}
    assert "does not exist" in proc.stderr


def test_offline_download_attempt_keeps_stdout_pure_json(repo_dir, files, shared_images, tmp_path):
    """torch prints "Downloading: ..." to stdout; the protocol must not be corrupted by it."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "NST_WEIGHTS"}
    # A proxy on a closed local port makes the download fail at once, online or not.
    env.update(TORCH_HOME=str(tmp_path / "torch-home"), https_proxy="http://127.0.0.1:9",
               HTTPS_PROXY="http://127.0.0.1:9", no_proxy="", NO_PROXY="")
    proc = subprocess.run([sys.executable, "-m", "nst_engine", "stylize", str(files / "content.png"),
                           "--style", str(shared_images / "starry_night.jpg"), "-o", str(tmp_path / "o.png"),
                           "--progress", "json"], cwd=repo_dir, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]  # every line is JSON
    assert events[-1]["code"] == "weights_missing"
    assert not (tmp_path / "o.png").exists()
