"""Which weights file the engine takes when none is named: the one install.py installed with it."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RESOLVE = "import sys; from nst_engine.services import weights; print(weights.resolve(sys.argv[1], None))"


def _installed_copy(tmp_path: Path, manifest) -> Path:
    """<prefix>/engine/nst_engine as install.py lays it out, with ``manifest`` at the prefix."""
    prefix = tmp_path / "prefix"
    shutil.copytree(REPO / "nst_engine", prefix / "engine" / "nst_engine",
                    ignore=shutil.ignore_patterns("__pycache__"))
    if manifest is not None:
        (prefix / "install-manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    return prefix


def _resolve(prefix: Path, model: str, tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("NST_WEIGHTS", "PYTHONPATH")}
    env["TORCH_HOME"] = str(tmp_path / "torch-home")  # no hub file there
    done = subprocess.run([sys.executable, "-c", RESOLVE, model], cwd=prefix / "engine", env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_an_installed_engine_finds_its_weights(tmp_path, fixture_weights):
    prefix = _installed_copy(tmp_path, {"model": "vgg16", "weights": str(fixture_weights), "entries": []})
    assert _resolve(prefix, "vgg16", tmp_path) == str(fixture_weights)
    assert _resolve(prefix, "vgg19", tmp_path) == "None"  # another model: not those weights


@pytest.mark.parametrize("manifest", [None, "{not json", "[]", json.dumps({"model": "vgg16", "weights": "/nonexistent.pth"})],
                         ids=["no-manifest", "broken", "not-a-dict", "file-gone"])
def test_no_usable_manifest_means_no_installed_weights(tmp_path, manifest):
    prefix = _installed_copy(tmp_path, manifest)
    assert _resolve(prefix, "vgg16", tmp_path) == "None"
