"""Fixtures of the plug-in's tests (builders live in plugin_helpers.py)."""
import pytest

import plugin_helpers  # noqa: F401 (puts the plug-in's folder on sys.path before the test modules import its modules)


@pytest.fixture
def fake_python(tmp_path):
    p = tmp_path / "venv" / "bin" / "python"
    p.parent.mkdir(parents=True)
    p.write_text("#!/bin/sh\n")
    p.chmod(0o755)
    return p
