"""Shared test fixtures: where the shared weights and images live.

The shared folder is ``../shared`` beside the checkout (as on the developers'
machines and in CI), or wherever ``NST_SHARED`` points.
"""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NST_SHARED", REPO.parent / "shared")).resolve()
FIXTURE_WEIGHTS = SHARED / "weights" / "vgg16_features_fixture.pt"
IMAGES = SHARED / "images"


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
