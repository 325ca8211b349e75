"""nst_contract.calibration: the cache's path rule, the validating reader and the atomic writer."""
import json
import sys

import pytest

from calibration_cases import GOOD, GOOD_KEY, bad_files, cache_text
from nst_contract import calibration


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def test_cache_path_follows_the_environment(tmp_path):
    assert calibration.cache_path({"NST_CACHE_DIR": str(tmp_path)}) == tmp_path / "calibration.json"
    if sys.platform.startswith("linux"):
        assert str(calibration.cache_path({"XDG_CACHE_HOME": "/c"})) == "/c/gimp-neural-style/calibration.json"
        assert calibration.cache_path({"NST_CACHE_DIR": "", "XDG_CACHE_HOME": "/c"}).parent.name == "gimp-neural-style"


def test_a_valid_entry_is_read_back_as_written(tmp_path):
    path = tmp_path / "calibration.json"
    calibration.write_entry(path, GOOD_KEY, GOOD)
    assert calibration.read_entries(path) == {GOOD_KEY: GOOD}
    assert calibration.read_entries(tmp_path / "missing.json") == {}
    assert [p.name for p in tmp_path.iterdir()] == ["calibration.json"]  # no temporary file left


@pytest.mark.parametrize("name, content", bad_files(), ids=[n for n, _ in bad_files()])
def test_a_damaged_cache_gives_no_entry_and_no_error(tmp_path, name, content):
    path = write(tmp_path / "calibration.json", content)
    assert calibration.read_entries(path) == {}, name


@pytest.mark.parametrize("name, content", bad_files(), ids=[n for n, _ in bad_files()])
def test_writing_over_a_damaged_cache_keeps_only_what_validates(tmp_path, name, content):
    path = write(tmp_path / "calibration.json", content)
    other = {**GOOD, "model": "vgg19"}
    calibration.write_entry(path, "new", other)
    assert calibration.read_entries(path) == {"new": other}
    assert json.loads(path.read_text()) == {"entries": {"new": other}}


def test_only_the_bad_entries_of_a_file_are_left_out(tmp_path):
    path = write(tmp_path / "calibration.json", cache_text({GOOD_KEY: GOOD, "bad": {**GOOD, "size": "x"}, "": 3}))
    assert calibration.read_entries(path) == {GOOD_KEY: GOOD}


def test_an_entry_that_cannot_be_written_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "calibration.json"
    calibration.write_entry(path, GOOD_KEY, GOOD)
    before = path.read_bytes()
    calibration.write_entry(path, "nan", {**GOOD, "size_limit": float("nan")})  # JSON has no NaN: not written
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["calibration.json"]


def test_a_cache_folder_that_cannot_be_made_is_skipped(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    calibration.write_entry(tmp_path / "a-file" / "calibration.json", GOOD_KEY, GOOD)  # no error
    assert (tmp_path / "a-file").read_text() == "not a folder"
