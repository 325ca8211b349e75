"""The self-check's pieces (its PNG helpers, its command lines: the plug-in's, built from the
contract alone) and a failing self-check (exit 4, never "Installed")."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from install_helpers import PLUGIN_SRC, REPO, make_home, run_install
from nst_installer import selfcheck


def test_png_helpers(tmp_path):
    p = tmp_path / "x.png"
    selfcheck.write_png(p, 7, 3, lambda x, y: (x * 30, y * 80, 5))
    assert selfcheck.png_size(p) == (7, 3)
    pil = pytest.importorskip("PIL.Image")
    with pil.open(p) as im:
        assert im.size == (7, 3) and im.mode == "RGB" and im.getpixel((6, 2)) == (180, 160, 5)


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


def test_the_self_check_runs_the_plugins_command_lines_from_the_contract_alone():
    """selfcheck.py builds doctor's and the stylisation's command lines from the contract's option
    specs, and they are the plug-in's own (nst_jobs.build_argv), without importing the plug-in."""
    cfg = selfcheck.plugin_config(Path("/py"), model="vgg16", weights=Path("/w/v.pth"), device="cpu",
                                  engine_path=Path("/engine"))
    assert selfcheck.doctor_argv(cfg) == ["/py", "-m", "nst_engine", "doctor", "--model", "vgg16",
                                          "--weights", "/w/v.pth", "--device", "cpu"]
    ours = selfcheck.stylisation_argv(cfg, Path("c.png"), Path("s.png"), Path("o.png"))
    code = textwrap.dedent("""
        import json, sys
        sys.path.insert(0, sys.argv[1])
        import nst_jobs
        from nst_contract.plugin_config import Config
        cfg = Config(path="x", engine_python="/py", engine_path="/engine", weights="/w/v.pth", model="vgg16",
                     device="cpu")
        job = nst_jobs.Job(content="c.png", style="s.png", output="o.png", layer_size=(64, 48), preset="draft",
                           size=64, iterations=5, seed=0)
        print(json.dumps(nst_jobs.build_argv(cfg, job)))
    """)
    plugins = subprocess.run([sys.executable, "-c", code, str(PLUGIN_SRC)], capture_output=True, text=True,
                             check=True, cwd=str(REPO))
    assert ours == json.loads(plugins.stdout)
    alone = textwrap.dedent("""
        import sys
        from pathlib import Path
        from nst_installer import selfcheck
        cfg = selfcheck.plugin_config(Path("/py"), model="vgg16", weights=None, device="cpu", engine_path=None)
        selfcheck.doctor_argv(cfg), selfcheck.stylisation_argv(cfg, Path("c"), Path("s"), Path("o"))
        print(sorted(m for m in sys.modules if m.startswith("nst_") and m.split(".")[0] not in
                     ("nst_installer", "nst_contract")))
    """)
    loaded = subprocess.run([sys.executable, "-c", alone], capture_output=True, text=True, check=True, cwd=str(REPO))
    assert loaded.stdout.strip() == "[]"  # none of the plug-in's modules
