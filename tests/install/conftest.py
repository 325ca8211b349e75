"""Install-test fixtures (helpers live in install_helpers.py)."""
from pathlib import Path

import pytest

from install_helpers import make_venv


@pytest.fixture(scope="module")
def engine_python(tmp_path_factory) -> Path:
    """An engine interpreter per test file: a bare venv seeing the test venv's packages."""
    return make_venv(tmp_path_factory.mktemp("engine") / "venv", with_torch=True)
