"""--uninstall: it removes only what install.py made (keeping, and naming, what the user put in its
folders), inside the places it installs into (nst_installer/bounds.py), whatever a damaged or
hand-edited manifest says; and a manifest that cannot be read."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from install_helpers import make_home, plugin_dirs, run_install, snapshot

def install(home: Path, engine_python: Path, weights: Path):
    r = run_install(home, "--python", engine_python, "--weights", weights, "--model", "vgg16", "--no-self-check")
    assert r.returncode == 0, r.stdout + r.stderr
    return home / ".local/share/gimp-neural-style"


def edit_manifest(prefix: Path, change) -> None:
    path = prefix / "install-manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def entry(path, kind="file", created=True):
    return {"path": str(path), "kind": kind, "created": created, "what": "added by hand"}


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


def test_paths_outside_the_install_are_refused_and_kept(tmp_path, engine_python, fixture_weights):
    home = make_home(tmp_path)
    before = snapshot(home)
    prefix = install(home, engine_python, fixture_weights)
    docs = home / "Documents"
    (docs / "sub").mkdir(parents=True)
    mine = {home / "precious.txt": "mine", docs / "sub" / "thesis.txt": "mine", home / ".local/share/x": "mine",
            tmp_path / "outside.txt": "mine"}
    for path, text in mine.items():
        path.write_text(text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    (prefix / "link-out").symlink_to(elsewhere)  # a folder of the prefix that leads outside
    gimprc = home / ".config/GIMP/3.0/gimprc"
    outside = [entry(home / "precious.txt"), entry(docs, "tree"), entry(f"{prefix}/../x"), entry(gimprc),
               entry(prefix / "link-out" / "keep.txt"), entry(prefix / "link-out" / "..", "tree"),
               entry(tmp_path / "outside.txt"), entry(home / ".config/GIMP/3.0", "dir")]
    edit_manifest(prefix, lambda m: m["entries"].extend(outside))
    kept = {p: p.read_bytes() for p in [*mine, gimprc, elsewhere / "keep.txt"]}
    r = run_install(home, "--uninstall")
    assert r.returncode == 0, r.stdout + r.stderr
    for path, content in kept.items():
        assert path.read_bytes() == content, path
    assert "refused to remove 7 path(s)" in r.stderr
    for e in outside[:-1]:
        assert f"  {e['path']}" in r.stderr, e["path"]
    assert f"  {prefix}/../x (that is {home / '.local/share/x'})" in r.stderr
    assert "uninstalled (except the 7 path(s) refused above)" in r.stdout
    assert f"keeping {prefix}{os.sep}: it holds 1 file(s) install.py did not make: link-out" in r.stdout
    # everything of the install is gone; what the user added is there
    assert {k for k in snapshot(home) if k not in before} == {
        "precious.txt", "Documents", "Documents/sub", "Documents/sub/thesis.txt", ".local", ".local/share",
        ".local/share/x", ".local/share/gimp-neural-style", ".local/share/gimp-neural-style/link-out"}


def test_a_folder_replaced_by_a_symlink_is_unlinked_not_followed(tmp_path, engine_python, fixture_weights):
    home = make_home(tmp_path)
    before = snapshot(home)
    prefix = install(home, engine_python, fixture_weights)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.txt").write_text("mine")
    plugin_contract = plugin_dirs(home)["3.0"] / "nst_contract"
    for folder in (prefix / "engine" / "nst_engine", plugin_contract):
        for d, _dirs, files in os.walk(folder, topdown=False):
            for f in files:
                os.unlink(os.path.join(d, f))
            os.rmdir(d)
        folder.symlink_to(mine)
    dry = run_install(home, "--uninstall", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"would remove the symbolic link {prefix / 'engine' / 'nst_engine'} (to {mine};" in dry.stdout
    r = run_install(home, "--uninstall")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert f"removing the symbolic link {plugin_contract} (to {mine}; what it points to is kept)" in r.stdout
    assert (mine / "data.txt").read_text() == "mine"
    assert snapshot(home) == before
    again = run_install(home, "--uninstall")
    assert again.returncode == 0 and "nothing to uninstall" in again.stdout


def test_an_install_over_a_folder_replaced_by_a_symlink_replaces_the_link(tmp_path, engine_python,
                                                                          fixture_weights):
    home = make_home(tmp_path, profiles=("3.0",), flatpak=False)
    prefix = install(home, engine_python, fixture_weights)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.txt").write_text("mine")
    copy = prefix / "engine" / "nst_engine"
    os.rename(copy, tmp_path / "old-copy")
    copy.symlink_to(mine)
    install(home, engine_python, fixture_weights)
    assert copy.is_dir() and not copy.is_symlink() and (copy / "__main__.py").is_file()
    assert sorted(p.name for p in mine.iterdir()) == ["data.txt"]
    assert run_install(home, "--uninstall").returncode == 0


MANIFESTS = {
    "not JSON": ("{not json", "it cannot be read as JSON"),
    "a list": ("[1]", "it is not a manifest (no list of entries)"),
    "entries a string": ('{"entries": "x"}', "it is not a manifest (no list of entries)"),
}


@pytest.mark.parametrize("name", MANIFESTS)
def test_an_unreadable_manifest_is_said_and_a_new_install_repairs_it(tmp_path, engine_python, fixture_weights,
                                                                       name):
    content, words = MANIFESTS[name]
    home = make_home(tmp_path, profiles=("3.0",), flatpak=False)
    prefix = install(home, engine_python, fixture_weights)
    manifest = prefix / "install-manifest.json"
    manifest.write_text(content)
    installed = snapshot(home)
    r = run_install(home, "--uninstall")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"error: the manifest {manifest} is damaged: {words}" in r.stderr and "nothing was removed." in r.stderr
    assert "Run install.py again with the options you installed with" in r.stderr
    assert snapshot(home) == installed
    c = run_install(home, "--check", "--no-self-check")
    assert c.returncode == 1 and "Traceback" not in c.stderr, c.stderr
    assert f"[DAMAGED] manifest: {words}" in c.stdout and "NOT OK" in c.stdout
    again = run_install(home, "--python", engine_python, "--weights", fixture_weights, "--model", "vgg16",
                        "--no-self-check")
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    assert f"kept as {manifest}.damaged; this run writes a new one" in again.stderr
    assert (prefix / "install-manifest.json.damaged").read_text() == content
    c = run_install(home, "--check", "--no-self-check")
    assert c.returncode == 0 and "[DAMAGED]" not in c.stdout, c.stdout + c.stderr
    r = run_install(home, "--uninstall")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (prefix / "engine").exists() or not any((prefix / "engine").iterdir())
    assert not list(prefix.rglob("*.json*")) and not list(plugin_dirs(home)["3.0"].rglob("*.py"))


def test_odd_entries_and_facts_are_left_out_and_said(tmp_path, engine_python, fixture_weights):
    home = make_home(tmp_path, profiles=("3.0",), flatpak=False)
    before = snapshot(home)
    prefix = install(home, engine_python, fixture_weights)
    weights = prefix / "weights" / fixture_weights.name
    odd = [1, "x", {"path": str(weights)}, {"path": "relative/x", "kind": "file", "created": True},
           {"path": str(prefix), "kind": "folder", "created": True}, {**entry(weights), "created": "yes"}]

    def damage(m):
        m["entries"] = [e for e in m["entries"] if e["path"] != str(weights)] + odd
        m["weights"], m["engine_python"] = 5, ["x"]
    edit_manifest(prefix, damage)
    c = run_install(home, "--check", "--no-self-check")
    assert c.returncode == 1 and "Traceback" not in c.stderr, c.stderr
    assert c.stdout.count("[DAMAGED] manifest:") == len(odd) + 2
    assert "[DAMAGED] manifest: weights is 5, not a string: left out" in c.stdout
    assert "its kind is not one of file, tree, dir" in c.stdout and "its path is not an absolute path" in c.stdout
    r = run_install(home, "--uninstall")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"{len(odd)} damaged entries were left out" in r.stdout
    assert weights.is_file()  # named only by damaged entries: kept, and said
    assert not (prefix / "install-manifest.json").exists() and not (prefix / "engine").exists()
    # installing again records it anew; then uninstall removes everything
    install(home, engine_python, fixture_weights)
    assert run_install(home, "--uninstall").returncode == 0
    left = {k for k in snapshot(home) if k not in before}
    assert not any(k.endswith((".py", ".pt", ".json")) for k in left), left
