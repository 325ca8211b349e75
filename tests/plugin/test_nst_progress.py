"""nst_progress: GIMP's progress texts from the engine's events, and the dialog's time estimates
(the engine's calibration for this computer, else typical times)."""
import json
import sys

import pytest

import nst_progress


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
    assert nst_progress.progress_text(setup) == "Scale 4/4, setup, tile 2/12, 1:05 left"
    assert nst_progress.progress_fraction({"event": "progress", "fraction": 1.7}) == 1.0
    assert nst_progress.progress_fraction({"event": "start"}) is None
    assert nst_progress.progress_fraction({"event": "done"}) == 1.0
    start = {"event": "start", "total_steps": 340, "device": "cpu"}
    assert nst_progress.progress_text(start) == "Neural style transfer: starting (340 steps, on cpu)"


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


def calibration(tmp_path, entries):
    path = tmp_path / "cache" / "calibration.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"entries": entries}))
    return {"NST_CACHE_DIR": str(path.parent)}


def estimates(scale):
    return {q: {str(side): scale * n * side for side in (256, 512, 1024)}
            for q, n in (("draft", 0.05), ("balanced", 0.2), ("best", 1.0))}


def test_calibration_file_rule(tmp_path):
    assert nst_progress.calibration_file({"NST_CACHE_DIR": str(tmp_path)}) == str(tmp_path / "calibration.json")
    if sys.platform.startswith("linux"):
        assert nst_progress.calibration_file({"XDG_CACHE_HOME": "/c"}) == "/c/gimp-neural-style/calibration.json"


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
