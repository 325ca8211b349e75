"""The plug-in inside a real GIMP 3, with the real engine (tests/gimp/harness/).

One GIMP batch session runs every case of tests/gimp/batch_cases.py (GIMP starts
once: about 6 s) and writes its findings to a JSON file; each test asserts on its
case; every test runs once per GIMP series (3.0, 3.2: the series in the test id). Skipped
only when this machine cannot run that series at all (no gimp-console-<series> and not
root). Environment:

* ``NST_ENGINE_PYTHON``: the engine's interpreter (default: the test venv);
* ``NST_SHARED``: the shared folder (weights fixture, images), see tests/conftest.py;
* ``NST_GIMP3_ROOT`` / ``NST_GIMP32_ROOT``: where the GIMP 3.0 / 3.2 Debian roots are
  (default /var/cache/nst-gimp3-root, /var/cache/nst-gimp32-root);
* ``NST_GIMP_SERIES`` (or ``--gimp-series``): the series to run, e.g. ``3.2``;
* ``NST_GIMP_ITERATIONS``: iterations per run (default 5; tiny images, draft preset).
"""
from __future__ import annotations

import os

import pytest

from harness import batch, cancel, series  # beside this file (pytest puts a test's folder on sys.path)

CANCEL_SEED = 4242
CASES = ["registration", "photo", "large_layer", "layer_mask", "selection", "grayscale", "alpha", "style_layer",
         "engine_failure", "missing_config", "empty_selection_forced", "indexed", "two_layers",
         "text_layer", "vector_layer", "link_layer", "cancel",
         "after_cancel"]


@pytest.fixture(scope="session")
def gimp_results(repo_dir, shared_images, fixture_weights, gimp_series):
    return batch.run_batch_session(
        repo_dir, shared_images, fixture_weights, gimp_series, CASES,
        {"iterations": int(os.environ.get("NST_GIMP_ITERATIONS", "5")),
         # the watcher kills the plug-in 8 s after the engine starts: the run must outlast that on
         # any machine (200 steps at 96 px once ended first on a quiet machine: the parent was gone)
         "cancel_seed": CANCEL_SEED, "cancel_iterations": 10000},
        cancel_match=cancel.engine_run("stylize", "--seed", str(CANCEL_SEED)), keep_env="NST_KEEP_GIMP_RESULTS")


_case = batch.case_result


def _assert_new_layer(info, style_name, source="photo"):
    assert info["status"] == "success", info.get("message")
    new = info["new_layer"]
    assert new is not None
    assert new["name"] == f"Style: {style_name}"
    assert new["size"] == new["source_size"]
    assert new["offsets"] == new["source_offsets"]
    assert new["parent_same"]
    assert info["returned_layer"] == new["id"]
    # directly above the source: exactly one new layer, inserted just before it
    before, after = info["layers_before"], info["layers_after"]
    i = before.index(source)
    assert after == before[:i] + [new["name"]] + before[i:]
    assert info["source_unchanged"]
    assert info["others_unchanged"]
    return new


def test_gimp_runs_the_batch(gimp_results, gimp_series):
    assert gimp_results.get("finished"), gimp_results.get("gimp_stderr", "")[-3000:]
    # the series asked for is the one that ran (the harness's --version and GIMP's own)
    assert series.series_of(gimp_results["gimp_version"]) == gimp_series
    assert gimp_results["gimp_version_ran"] == gimp_results["gimp_version"]


def test_registration(gimp_results):
    info = _case(gimp_results, "registration")
    assert info["arguments"] == ["run-mode", "image", "drawables", "style-source", "style-file",
                                 "style-layer", "strength", "preset", "size", "preserve-color",
                                 "region", "seed", "iterations"]
    assert info["return_values"] == ["layer"]
    assert info["menu_label"] == "_Neural Style Transfer..."
    assert info["menu_paths"] == ["<Image>/Filters/Artistic"]
    assert info["image_types"] == "RGB*, GRAY*"


def test_photo_whole_layer(gimp_results):
    info = _case(gimp_results, "photo")
    new = _assert_new_layer(info, "starry_night")
    assert not new["has_mask"]
    assert new["changed_fraction"] > 0.5
    assert new["mean_abs_diff_red"] > 2
    assert new["alpha_equal_source"]


@pytest.fixture(scope="session")
def gimp_results_vgg19(repo_dir, shared_images, vgg19_weights, gimp_series):
    """The photo case again, with the default network as install.py provisions it."""
    return batch.run_batch_session(
        repo_dir, shared_images, vgg19_weights, gimp_series, ["photo"],
        {"iterations": int(os.environ.get("NST_GIMP_ITERATIONS", "5"))}, model="vgg19")


def test_photo_whole_layer_with_the_default_network(gimp_results_vgg19):
    assert gimp_results_vgg19.get("finished"), gimp_results_vgg19.get("gimp_stderr", "")[-3000:]
    new = _assert_new_layer(_case(gimp_results_vgg19, "photo"), "starry_night")
    assert not new["has_mask"]
    assert new["changed_fraction"] > 0.5
    assert new["mean_abs_diff_red"] > 2
    assert new["alpha_equal_source"]


def test_one_undo_group(gimp_results):
    """GIMP did not have to close an undo group the plug-in left open (it warns "left image
    undo in inconsistent state"). The Ctrl+Z check itself is in test_gimp_undo.py (full GUI)."""
    _case(gimp_results, "photo")
    assert "inconsistent state" not in gimp_results["gimp_stderr"]
    assert "undo" not in gimp_results["gimp_stderr"].lower() or \
        "closing open undo groups" not in gimp_results["gimp_stderr"]


def test_layer_larger_than_a_tile(gimp_results):
    """Issue 14: the engine computes the 200 x 150 layer at its own size in 64 px tiles (the
    config's --tile); the region's outside stays bit-exact across tile borders."""
    info = _case(gimp_results, "large_layer")
    new = _assert_new_layer(info, "starry_night")
    assert new["size"] == [200, 150]
    assert new["has_mask"] and new["mask_equal_region"]
    assert new["outside_pixels_differing"] == 0
    assert new["inside_changed_fraction"] > 0.5


def test_layer_mask_region(gimp_results):
    info = _case(gimp_results, "layer_mask")
    new = _assert_new_layer(info, "shipwreck")
    assert new["has_mask"]
    assert new["mask_equal_region"]
    assert new["outside_pixels_differing"] == 0
    assert new["inside_changed_fraction"] > 0.5


def test_selection_region(gimp_results):
    info = _case(gimp_results, "selection")
    new = _assert_new_layer(info, "starry_night")
    assert new["has_mask"]
    assert new["mask_equal_region"]
    assert new["region_pixels"] == info["expected_region_pixels"] > 0
    assert new["outside_pixels_differing"] == 0
    assert new["inside_changed_fraction"] > 0.5
    assert info["selection_unchanged"]


def test_grayscale_image(gimp_results):
    info = _case(gimp_results, "grayscale")
    new = _assert_new_layer(info, "starry_night")
    assert info["image_gray"] and new["is_gray"]
    assert new["changed_fraction"] > 0.3


def test_image_with_alpha(gimp_results):
    info = _case(gimp_results, "alpha")
    new = _assert_new_layer(info, "starry_night")
    assert info["source_has_alpha"] and new["has_alpha"]
    assert info["precision"] == "u16-linear"
    assert new["alpha_equal_source"]
    assert new["changed_fraction"] > 0.3


def test_style_from_layer_of_other_image(gimp_results):
    info = _case(gimp_results, "style_layer")
    new = _assert_new_layer(info, info["style_layer_name"])
    assert new["changed_fraction"] > 0.5
    assert info["style_layer_unchanged"]
    assert info["style_image_layers"] == 1


@pytest.mark.parametrize("kind", ["text", "vector", "link"])
def test_text_vector_and_link_layers_are_stylised(gimp_results, gimp_series, kind):
    """A text layer (3.0, 3.2) or a vector or link layer (3.2) is stylised like any layer: a raster
    result above it; the source keeps its kind (not rasterized), text and pixels."""
    info = _case(gimp_results, f"{kind}_layer")
    if "unsupported" in info:
        assert gimp_series == "3.0" and kind != "text", info   # 3.2 has all three kinds
        pytest.skip(info["unsupported"])
    assert info["kind_before"]["class"] == {"text": "TextLayer", "vector": "VectorLayer",
                                            "link": "LinkLayer"}[kind]
    assert info["opaque_pixels"] > 0, info          # there is something to stylise
    new = _assert_new_layer(info, "starry_night", source=info["source_name"])
    assert info["kind_after"] == info["kind_before"]      # same kind, text, rasterized state
    assert not info["kind_before"].get("rasterized")
    assert info["new_kind"]["class"] == "Layer"             # a plain raster layer
    assert new["alpha_equal_source"]
    assert new["changed_fraction"] > 0.3


def test_engine_failure_unreadable_style(gimp_results):
    info = _case(gimp_results, "engine_failure")
    assert info["status"] == "execution-error"
    msg = info.get("message", "")
    assert "broken-style.jpg" in msg or "style" in msg.lower(), msg
    assert "engine" in msg.lower(), msg
    assert info["image_unchanged"]
    assert not info["dirty"]


def test_missing_config(gimp_results):
    info = _case(gimp_results, "missing_config")
    assert info["status"] == "execution-error"
    msg = info.get("message", "")
    assert "nst-config.json" in msg and "install.py" in msg, msg
    assert info["image_unchanged"]
    assert not info["dirty"]


def test_empty_selection_forced(gimp_results):
    info = _case(gimp_results, "empty_selection_forced")
    assert info["status"] == "execution-error"
    assert "selection is empty" in info.get("message", ""), info.get("message")
    assert info["image_unchanged"]


def test_indexed_image_refused(gimp_results):
    info = _case(gimp_results, "indexed")
    assert info["status"] in ("execution-error", "calling-error")
    if info["status"] == "execution-error":
        assert "RGB" in info.get("message", ""), info.get("message")
    assert info["image_unchanged"]


def test_two_layers_selected_refused(gimp_results):
    info = _case(gimp_results, "two_layers")
    assert info["status"] == "execution-error"
    assert "exactly one layer" in info.get("message", ""), info.get("message")
    assert info["image_unchanged"]


def test_cancel_kills_engine_and_leaves_image(gimp_results):
    """Cancel = GIMP kills the plug-in; the engine must stop by itself (--watch-stdin),
    write nothing, and the image must be exactly as before."""
    info = _case(gimp_results, "cancel")
    w = gimp_results["cancel_watcher"]
    assert "error" not in w, w
    assert info["status"] != "success"
    assert info["image_unchanged"]
    assert w["engine_gone"], w
    assert w["engine_exit_seconds"] < 30, w
    assert not w["output_written"]


def test_temp_folders_removed(gimp_results):
    """Every run removes its private temp folder; the one a killed run left behind is
    removed by the next run."""
    info = _case(gimp_results, "after_cancel")
    assert info["status"] == "success", info.get("message")
    assert gimp_results["plugin_tmp_left"] == []


def test_source_inside_a_layer_group(gimp_results):
    """The after-cancel run's source layer sits in a group under another layer."""
    info = _case(gimp_results, "after_cancel")
    _assert_new_layer(info, "starry_night")
    assert info["group_children_after"] == ["in group above", "Style: starry_night", "photo"]
