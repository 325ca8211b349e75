"""The dialog's time estimates (nst_progress.preset_times_text) from a damaged or odd calibration
cache: never an error, never "nan h" or absurd figures; the typical times instead (issue 20).
No GIMP, no torch."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "plugin" / "neural-style-transfer"))
import nst_progress  # noqa: E402
from calibration_cases import GOOD, GOOD_KEY, bad_files, cache_text, changed  # noqa: E402


def cache(tmp_path, content) -> dict:
    path = tmp_path / "calibration.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return {"NST_CACHE_DIR": str(tmp_path)}


def times(env, layer_size=None) -> str:
    return nst_progress.preset_times_text("vgg16", "cpu", env, layer_size)


def test_the_valid_case_gives_estimates(tmp_path):
    text = times(cache(tmp_path, cache_text({GOOD_KEY: GOOD})))
    assert "Estimated for this computer (measured 2026-12-01)" in text
    assert "draft about 10 s, balanced about 25 s, best about 1 min (plus" in text  # 8, 24, 80 s at 1024 px


@pytest.mark.parametrize("name, content", bad_files(), ids=[n for n, _ in bad_files()])
@pytest.mark.parametrize("layer_size", [None, (6000, 4500)])
def test_a_damaged_cache_gives_the_typical_times(tmp_path, name, content, layer_size):
    assert times(cache(tmp_path, content), layer_size) == nst_progress.PRESET_TIMES_TEXT, name


def test_a_damaged_entry_beside_a_valid_one_is_left_out(tmp_path):
    newer_but_bad = {**GOOD, "measured_at": "2027-01-01", "estimates": "fast"}
    text = times(cache(tmp_path, cache_text({GOOD_KEY: GOOD, "bad": newer_but_bad})))
    assert "measured 2026-12-01" in text


@pytest.mark.parametrize("entry", [
    changed("estimates.draft", {"256": 0.0, "512": 0.0}),  # a tiny network's rounded times
    changed("estimates.best", {}),
    changed("estimates", {"draft": GOOD["estimates"]["draft"]}),  # a preset's quality missing
    {**changed("estimates.best", {"256": 1.0, "512": 9e6}), "size_limit": 1 << 20},  # grows past any sense
], ids=["zero times", "empty table", "quality missing", "absurd extrapolation"])
def test_valid_entries_whose_sums_make_no_sense_give_the_typical_times(tmp_path, entry):
    env = cache(tmp_path, cache_text({GOOD_KEY: entry}))
    for layer_size in (None, (6000, 4500), (20000, 15000)):
        text = times(env, layer_size)
        assert text == nst_progress.PRESET_TIMES_TEXT or not re.search(r"nan|inf|e\+", text), text
    assert times(env, (20000, 15000)) == nst_progress.PRESET_TIMES_TEXT


def test_figures_stay_readable_up_to_the_limit(tmp_path):
    env = cache(tmp_path, cache_text({GOOD_KEY: {**GOOD, "size_limit": 1 << 20}}))
    for side in (64, 1024, 4096, 20000, 1 << 20):
        text = times(env, (side, side * 3 // 4))
        assert not re.search(r"nan|inf|e\+|\d{5,} h", text), text
