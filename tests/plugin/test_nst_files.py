"""nst_files: names of the files and layers the plug-in makes, folders it reads, the visualize index."""
import json

import pytest

import nst_errors
import nst_files


def test_style_layer_name():
    assert nst_files.style_layer_name("/x/y/starry_night.jpg") == "Style: starry_night"
    assert nst_files.style_layer_name("matisse layer", is_file=False) == "Style: matisse layer"
    assert nst_files.style_layer_name("  ", is_file=False) == "Style: style"


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


def test_every_style_source_has_the_dialogs_words():
    assert tuple(nst_files.STYLE_SOURCE_WORDS) == nst_files.STYLE_SOURCES
    assert all(label for label, _meaning in nst_files.STYLE_SOURCE_WORDS.values())
