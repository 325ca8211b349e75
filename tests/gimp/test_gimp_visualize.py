"""Filters ▸ Artistic ▸ Neural Style ▸ Visualize Network Units… in a real GIMP 3, real engine.

A second GIMP batch session (it must start with no image open) runs the ``vis_*`` cases of
tests/gimp/batch_cases.py: registration, no image open, the open images exported and
visualized, a folder (the shared images, with gradients), error cases and a cancel; the
tests assert on the findings. Tiny settings (2 layers × 2 units × 2 patches at 64 px) keep
each engine run at a few seconds. Environment as for test_gimp_stylize.py;
``NST_KEEP_GIMP_VIS_RESULTS=FILE`` keeps the findings.
"""
from __future__ import annotations

import os

import pytest

from harness import batch, cancel  # beside this file (pytest puts a test's folder on sys.path)

CASES = ["vis_registration", "vis_no_images", "vis_open_images", "vis_hidden_layers",
         "vis_empty_folder",
         "vis_not_images", "vis_missing_folder", "vis_bad_layer", "vis_cancel", "vis_folder"]
LAYERS = ["relu1_1", "relu2_1"]


@pytest.fixture(scope="session")
def vis_results(repo_dir, shared_images, fixture_weights, gimp_series):
    return batch.run_batch_session(repo_dir, shared_images, fixture_weights, gimp_series, CASES,
                                     cancel_match=cancel.engine_run("visualize", "--units", "7"), cancel_delay_s=6.0,
                                     keep_env="NST_KEEP_GIMP_VIS_RESULTS", timeout=900)


_case = batch.case_result


def _refused(results, name):
    """The case ended in an execution error that added no image and changed none: its message."""
    info = _case(results, name)
    assert info["status"] == "execution-error", info
    assert info["images_added"] == [] and info["open_images_unchanged"], info
    return info.get("message", "")


def _assert_picture(info):
    """Success: exactly one new image, returned, holding the engine's picture at the size the
    JSON index gives, with the index returned too."""
    assert info["status"] == "success", info.get("message")
    assert info["images_added"] == [info["returned_image"]]
    assert info["images_removed"] == []
    new, index = info["new_image"], info["index"]
    assert new["size"] == index["picture_size"] == new["layer_size"]
    assert new["layers"] == 1 and new["rgb"]
    assert new["layer_name"] == "Network units: " + ", ".join(index["layers"])
    assert not new["dirty"] and new["file"] is None      # untitled, not the deleted temp file
    assert new["corner_pixel"] == [255, 255, 255]         # the picture's white background
    assert index["layers"] == LAYERS
    assert index["units"] == [2, 2]
    assert index["scan_size"] == 64 and index["cell"] == 32
    assert all(n == 2 for per_layer in index["patches_per_unit"] for n in per_layer)
    assert info["open_images_unchanged"]
    return new, index


def test_batch_finished(vis_results):
    assert vis_results.get("finished"), vis_results.get("gimp_stderr", "")[-3000:]


def test_registration(vis_results):
    info = _case(vis_results, "vis_registration")
    assert info["arguments"] == ["run-mode", "folder", "layers", "units", "top", "size", "cell",
                                 "gradients"]
    assert info["return_values"] == ["image", "index"]
    assert info["menu_label"] == "_Visualize Network Units..."
    assert info["menu_paths"] == ["<Image>/Filters/Artistic/Neural Style"]
    # a plain procedure without image types: available with no image open
    assert not info["is_image_procedure"] and info["image_types"] in ("", None)
    assert info["images_open"] == 0


def test_no_image_open_and_no_folder(vis_results):
    info = _case(vis_results, "vis_no_images")
    assert info["images_open_before"] == 0
    assert info["status"] == "execution-error"
    assert "No images to visualize" in info.get("message", ""), info.get("message")
    assert info["images_added"] == []


def test_open_images_exported_and_visualized(vis_results):
    info = _case(vis_results, "vis_open_images")
    new, index = _assert_picture(info)
    assert not index["gradients"]
    # each open image went to the engine once, flattened at its canvas size, under a
    # numbered name made from its GIMP name
    assert sorted(im["original_size"] for im in index["images"]) == info["open_image_sizes"]
    names = [os.path.basename(im["path"]) for im in index["images"]]
    assert sorted(n[:3] for n in names) == ["01-", "02-"], names
    assert sorted(n[3:] for n in names) == ["Untitled.png", "matisse-gray.png"], names
    assert index["skipped"] == []
    # the exported copies lived in the run's private temp folder, now removed
    assert all("/nst-gimp-" in im["path"] and not os.path.exists(im["path"])
               for im in index["images"])


def test_open_image_without_visible_layer_is_an_error(vis_results):
    msg = _refused(vis_results, "vis_hidden_layers")
    assert "all-hidden.xcf" in msg and "no visible layer" in msg, msg


def test_folder_of_images_with_gradients(vis_results, shared_images):
    info = _case(vis_results, "vis_folder")
    new, index = _assert_picture(info)
    assert [im["path"] for im in index["images"]] == info["folder_images"]
    assert len(index["images"]) == 4
    assert index["gradients"] and index["gradient_cells"] == 2 * 2 * 2


def test_empty_folder_is_an_error(vis_results):
    msg = _refused(vis_results, "vis_empty_folder")
    assert msg.startswith("The network visualization engine rejected the input"), msg
    assert "no usable images" in msg and _case(vis_results, "vis_empty_folder")["folder"] in msg, msg


def test_folder_of_non_images_is_an_error(vis_results):
    msg = _refused(vis_results, "vis_not_images")
    assert "no usable images" in msg and "broken.jpg" in msg and "broken.png" in msg, msg


def test_missing_folder_is_an_error(vis_results):
    info = _case(vis_results, "vis_missing_folder")
    # GIMP 3.0 itself refuses a folder argument that does not exist (calling-error, "out of
    # range"); the plug-in's own check says "does not exist" where GIMP lets it through
    assert info["status"] in ("calling-error", "execution-error"), info
    if info["status"] == "execution-error":
        assert "does not exist" in info.get("message", ""), info.get("message")
    assert info["images_added"] == []


def test_unknown_layer_is_an_error(vis_results):
    msg = _refused(vis_results, "vis_bad_layer")
    assert "relu9_9" in msg and "rejected the input" in msg, msg


def test_cancel_stops_the_engine(vis_results):
    """Cancel = GIMP kills the plug-in; the engine stops by itself (--watch-stdin), writes
    nothing, no image is added or changed."""
    info = _case(vis_results, "vis_cancel")
    w = vis_results["cancel_watcher"]
    assert "error" not in w, w
    assert info["status"] != "success"
    assert info["images_added"] == [] and info["open_images_unchanged"]
    assert w["engine_gone"], w
    assert w["engine_exit_seconds"] < 30, w
    assert not w["output_written"]


def test_temp_folders_removed(vis_results):
    """Every run removes its temp folder; the killed run's is removed by the next run."""
    _case(vis_results, "vis_folder")
    assert vis_results["plugin_tmp_left"] == []
