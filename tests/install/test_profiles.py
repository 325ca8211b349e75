"""GIMP 3 profiles: found per OS, named with --gimp-dir, or none found (exit 5)."""
from __future__ import annotations

from pathlib import Path

from install_helpers import make_home, plugin_dirs, run_install, snapshot
from nst_installer import places


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
