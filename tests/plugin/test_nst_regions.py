"""nst_regions: where the plug-in stylises (layer mask, selection, whole layer) and how the result
is put back, on plain bytes."""
import time

import pytest

import nst_errors
import nst_regions


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


def test_every_region_choice_has_the_dialogs_words():
    assert tuple(nst_regions.REGION_WORDS) == nst_regions.REGIONS
    assert all(label for label, _meaning in nst_regions.REGION_WORDS.values())
