"""Every bad input gets an ``error`` event with a helpful message and a non-zero exit.

Most cases call the real command line's ``main()`` in-process (the same code path
as ``python -m nst_engine``, minus a torch start-up per case); one runs as a
subprocess to check the wiring end to end.
"""
import errno
import json
import math
import os
import shutil
import signal
import time
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from engine_helpers import declared_png, smooth_image
from nst_engine import cli


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory):
    """Made once (the bomb takes a moment): an image bomb and odd weights files."""
    d = tmp_path_factory.mktemp("odd")
    declared_png(d / "bomb.png", 30000, 30000)  # 900 megapixels in ~110 KB: Pillow's error
    declared_png(d / "bomb_225.png", 15000, 15000)  # just over the limit (2 × Pillow's MAX_IMAGE_PIXELS)
    weights_files(d)
    return d


@pytest.fixture
def files(tmp_path, shared_images, odd_files):
    smooth_image(96, 64).save(tmp_path / "content.png")
    Image.fromarray(np.full((32, 48), 255, np.uint8)).save(tmp_path / "small_mask.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "truncated.jpg").write_bytes((shared_images / "starry_night.jpg").read_bytes()[:300])
    Image.new("RGB", (2000, 40)).save(tmp_path / "strip.png")
    Image.new("L", (96, 64), 0).save(tmp_path / "black_mask.png")
    for f in odd_files.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "dir.png").mkdir()
    os.mkfifo(tmp_path / "fifo.png")
    return tmp_path


def weights_files(d):
    """Weights files that are not what the engine expects, each in its own way."""
    import torch

    torch.save({"a": 1}, d / "nontensor.pt")
    torch.save({"0.weight": torch.empty(64, 3, 3, 3, device="meta")}, d / "meta.pt")
    torch.save({"0.weight": torch.zeros(64, 3, 3, 3, dtype=torch.int32)}, d / "int.pt")
    torch.save([torch.zeros(1)], d / "list.pt")
    torch.save(torch.nn.Linear(2, 2), d / "module.pt")  # a whole pickled model: weights_only refuses it
    (d / "zero.pt").write_bytes(b"")
    (d / "text.pt").write_text("hello, these are not weights\n")


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
    (["{d}/strip.png", "--style", "{s}", "--size", "256", "-o", "{o}"], "bad_input", 2,
     ["shorter side", "--size 1600 or more"]),
    (["{c}", "--style", "{s}", "--style-scale", "0", "-o", "{o}"], "bad_input", 2, ["--style-scale"]),
    (["{c}", "--style", "{s}", "--iterations", "0", "-o", "{o}"], "bad_input", 2, ["--iterations"]),
    (["{c}", "--style", "{s}", "--coarsest", "16", "-o", "{o}"], "bad_input", 2, ["--coarsest", "32"]),
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
    # issue 11: image bombs, special files, odd weights files, values that start with '-'
    (["{d}/bomb.png", "--style", "{s}", "-o", "{o}"], "bad_input", 2, ["too large to open safely", "megapixels"]),
    (["{c}", "--style", "{d}/bomb.png", "-o", "{o}"], "bad_input", 2, ["style image", "too large to open safely"]),
    (["{d}/bomb_225.png", "--style", "{s}", "-o", "{o}"], "bad_input", 2, ["225000000 pixels", "below 179 megapixels"]),
    (["{c}", "--style", "{s}", "--mask", "{d}/bomb.png", "-o", "{o}"], "bad_input", 2, ["mask", "too large"]),
    (["{d}/fifo.png", "--style", "{s}", "-o", "{o}"], "bad_input", 2, ["not a regular file"]),
    (["{c}", "--style", "{s}", "-o", "{d}/dir.png"], "bad_input", 2, ["existing folder"]),
    (["{c}", "--style", "{s}", "--weights", "{d}/nontensor.pt", "--model", "vgg16", "-o", "{o}"],
     "weights_missing", 3, ["'a' is a int, not a tensor", "Expected: a VGG state dict"]),
    (["{c}", "--style", "{s}", "--weights", "{d}/meta.pt", "--model", "vgg16", "-o", "{o}"],
     "weights_missing", 3, ["without data", "meta"]),
    (["{c}", "--style", "{s}", "--weights", "{d}/int.pt", "--model", "vgg16", "-o", "{o}"],
     "weights_missing", 3, ["torch.int32", "not floats"]),
    (["{c}", "--style", "{s}", "--weights", "{d}/list.pt", "--model", "vgg16", "-o", "{o}"],
     "weights_missing", 3, ["hold a list, not a state dict"]),
    (["{c}", "--style", "{s}", "--weights", "{d}/module.pt", "--model", "vgg16", "-o", "{o}"],
     "weights_missing", 3, ["never loaded", "torch.save(model.state_dict(), PATH)"]),
    (["{c}", "--style", "{s}", "--weights", "{d}/zero.pt", "--model", "vgg16", "-o", "{o}"],
     "weights_missing", 3, ["is empty (0 bytes)", "Expected"]),
    (["{c}", "--style", "{s}", "--weights", "{d}/text.pt", "--model", "vgg16", "-o", "{o}"],
     "weights_missing", 3, ["is a text file", "'hello, these"]),
    (["-content.png", "--style", "{s}", "-o", "{o}"], "bad_input", 2, ["after `--`", "./-name.png"]),
    (["{c}", "--style", "{s}", "--strength", "-inf", "-o", "{o}"], "bad_input", 2, ["--strength", "--option=VALUE"]),
    (["{c}", "--style", "{s}", "--strength=-inf", "-o", "{o}"], "bad_input", 2, ["--strength", "finite"]),
    # issue 20: output names no file system takes, refused before the work (in-process, argv may hold a NUL)
    (["{c}", "--style", "{s}", "-o", "{d}/" + "x" * 300 + ".png"], "bad_input", 2, ["304 bytes long", "shorter name"]),
    (["{c}", "--style", "{s}", "-o", "{d}/a\0b.png"], "bad_input", 2, ["NUL byte"]),
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
    assert not any(e["event"] == "start" for e in events)  # refused up front, before any work
    assert "weights_only" not in events[-1]["message"]  # torch's advice to load code is never passed on
    for word in words:
        assert word in events[-1]["message"], events[-1]["message"]
    assert sorted(p.name for p in files.iterdir()) == before  # nothing written, nothing left behind


@pytest.mark.parametrize("size", [(40, 1200), (1200, 40)])
def test_an_elongated_image_is_stylised_end_to_end(size, tmp_path, shared_images, fixture_weights, capsys):
    """40x1200 and 1200x40 (issue 20): one scale, as the shorter side allows, instead of an internal error."""
    smooth_image(*size).save(tmp_path / "strip.png")
    status, events = run_cli(["stylize", str(tmp_path / "strip.png"), "--style", str(shared_images / "starry_night.jpg"),
                              "--style-scale", "0.1", "--iterations", "1", "--model", "vgg16", "--weights",
                              str(fixture_weights), "-o", str(tmp_path / "out.png")], capsys)
    assert status == 0 and events[-1]["event"] == "done", events[-1]
    assert [min(s) for s in events[0]["scales"]] == [40]
    assert Image.open(tmp_path / "out.png").size == size


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


# ----------------------------------------------------------------------------- issue 11 (hardening)


def test_content_named_with_a_dash_works_after_double_dash(files, shared_images, fixture_weights, capsys,
                                                           monkeypatch):
    monkeypatch.chdir(files)
    shutil.copy(files / "content.png", files / "-content.png")
    status = cli.main(["stylize", "--style", str(shared_images / "starry_night.jpg"), "-o", "out.png",
                       "--size", "64", "--iterations", "1", "--model", "vgg16", "--weights", str(fixture_weights),
                       "--progress", "json", "--", "-content.png"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 0 and events[-1]["event"] == "done", events
    assert (files / "out.png").is_file()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_output_follows_the_umask(umask, mode, files, shared_images, fixture_weights, capsys):
    old = os.umask(umask)
    try:
        status, events = run_cli(["stylize", str(files / "content.png"), "--style",
                                  str(shared_images / "starry_night.jpg"), "-o", str(files / "out.png"),
                                  "--size", "64", "--iterations", "1", "--model", "vgg16",
                                  "--weights", str(fixture_weights)], capsys)
    finally:
        os.umask(old)
    assert status == 0, events
    assert (files / "out.png").stat().st_mode & 0o777 == mode


def test_disk_full_while_saving_is_its_own_error(files, shared_images, fixture_weights, capsys, monkeypatch):
    def full(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    before = sorted(p.name for p in files.iterdir())
    status, events = run_cli(["stylize", str(files / "content.png"), "--style", str(shared_images / "starry_night.jpg"),
                              "-o", str(files / "out.png"), "--size", "64", "--iterations", "1", "--model", "vgg16",
                              "--weights", str(fixture_weights)], capsys)
    assert status == 5
    assert events[-1]["code"] == "disk_full"
    assert "is full" in events[-1]["message"] and "free some space" in events[-1]["message"]
    assert sorted(p.name for p in files.iterdir()) == before  # the temp file is gone


def test_fp16_weights_are_widened_and_give_the_fp32_result(files, shared_images, fixture_weights, capsys,
                                                           tmp_path_factory):
    import torch

    half = tmp_path_factory.mktemp("fp16") / "vgg16_fp16.pt"
    torch.save({k: v.half() for k, v in torch.load(fixture_weights).items()}, half)
    outs = []
    for weights in (fixture_weights, half):
        out = files / f"out_{weights.stem}.png"
        status, events = run_cli(["stylize", str(files / "content.png"), "--style",
                                  str(shared_images / "starry_night.jpg"), "-o", str(out), "--size", "64",
                                  "--iterations", "2", "--model", "vgg16", "--weights", str(weights)], capsys)
        assert status == 0, events
        outs.append(np.asarray(Image.open(out), dtype=np.int16))
    assert np.abs(outs[0] - outs[1]).max() <= 8  # fp16 rounding of the weights only


def test_image_too_large_for_free_memory_is_refused_before_decoding(files, shared_images, capsys, monkeypatch):
    from nst_engine.services import devices

    declared_png(files / "big.png", 6000, 4000, color_type=6, bit_depth=8)
    monkeypatch.setattr(devices, "available_bytes", lambda device: 64 * 2**20)
    decoded = []
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self))
    status, events = run_cli(["stylize", str(files / "big.png"), "--style", str(shared_images / "starry_night.jpg"),
                              "-o", str(files / "out.png")], capsys)
    assert status == 4 and events[-1]["code"] == "out_of_memory"
    assert "6000x4000" in events[-1]["message"]
    assert "scale it down" in events[-1]["message"]
    assert decoded == []  # refused from the header alone


def test_start_estimate_includes_decoding(files, shared_images, fixture_weights, capsys):
    from nst_engine.services import images

    declared_png(files / "big.png", 3000, 2000, color_type=6, bit_depth=8)
    status, events = run_cli(["stylize", str(files / "big.png"), "--style", str(shared_images / "starry_night.jpg"),
                              "-o", str(files / "out.png"), "--size", "64", "--iterations", "1", "--model", "vgg16",
                              "--weights", str(fixture_weights)], capsys)
    assert status == 0, events
    start = events[0]
    assert start["content_size"] == [3000, 2000] and start["output_size"] == [64, 43]
    assert start["memory_estimate_mb"] * 2**20 > images.decode_bytes((3000, 2000), "RGBA")


def test_reduced_jpeg_content_keeps_its_size_in_the_start_event(tmp_path, shared_images, fixture_weights, capsys):
    Image.effect_noise((1600, 1200), 40).convert("RGB").save(tmp_path / "big.jpg")
    status, events = run_cli(["stylize", str(tmp_path / "big.jpg"), "--style", str(shared_images / "starry_night.jpg"),
                              "-o", str(tmp_path / "out.png"), "--size", "100", "--iterations", "1",
                              "--model", "vgg16", "--weights", str(fixture_weights)], capsys)
    assert status == 0, events
    assert events[0]["content_size"] == [1600, 1200] and events[0]["output_size"] == [100, 75]


def test_under_the_bomb_limit_is_opened_without_a_warning(tmp_path):
    """Over Pillow's warning threshold (89 MP) but under its limit: a real photo can be that large;
    the memory check decides, and no DecompressionBombWarning reaches stderr."""
    import warnings

    from nst_engine.services import images

    declared_png(tmp_path / "big.png", 10000, 9000)  # 90 MP, 1 bit per pixel
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert images.open_image(tmp_path / "big.png", "x").size == (10000, 9000)


def test_large_jpeg_is_decoded_reduced(tmp_path):
    from nst_engine.services import images

    Image.effect_noise((2048, 1536), 40).convert("RGB").save(tmp_path / "big.jpg")
    assert images.open_image(tmp_path / "big.jpg", "x").size == (2048, 1536)
    reduced = images.open_image(tmp_path / "big.jpg", "x", longest=256)
    assert reduced.size == (256, 192) and reduced.info["declared_size"] == (2048, 1536)  # 1/8 while decoding
    assert images.open_image(tmp_path / "big.jpg", "x", longest=600).size == (1024, 768)  # never below the need


def test_sigterm_while_torch_imports_is_a_clean_cancel(repo_dir, files, shared_images, tmp_path):
    """The handler is installed before torch is imported: wait until the process catches SIGTERM
    (/proc's SigCgt), then stop it while it is still starting up."""
    status_file = None
    proc = subprocess.Popen([sys.executable, "-m", "nst_engine", "stylize", str(files / "content.png"),
                             "--style", str(shared_images / "starry_night.jpg"), "-o", str(tmp_path / "o.png"),
                             "--progress", "json"], cwd=repo_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    status_file = f"/proc/{proc.pid}/status"
    if not os.path.exists(status_file):
        proc.kill()
        pytest.skip("needs /proc to see when the handler is installed")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        caught = [line for line in open(status_file) if line.startswith("SigCgt:")]
        if caught and int(caught[0].split()[1], 16) & (1 << (signal.SIGTERM - 1)):
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    events = [json.loads(line) for line in out.splitlines()]
    assert proc.returncode == 130, err
    assert [e["event"] for e in events] == ["error"]  # stopped before the job started
    assert events[-1]["code"] == "cancelled" and "SIGTERM" in events[-1]["message"]
    assert not (tmp_path / "o.png").exists()
