"""The whole install, in order (install.py's docstring lists the steps), and its summary.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import List

from .check import Check
from .common import (INSTALL_PY, ENGINE_SRC, EXIT_NO_GIMP, EXIT_OK, EXIT_SELFCHECK, FLATPAK_PERMISSION, FLATPAK_WRAPPER,
    InstallError, quote, say)
from .engine_step import EngineStep
from .environments import engine_base_python, python_runs
from .places import Profile, venv_python
from .pastiche_step import PasticheStep
from .plugin_step import PluginStep, plugin_files
from .selfcheck import self_check
from .uninstall import Uninstall
from .weights_step import WeightsStep


class Installer(WeightsStep, PasticheStep, EngineStep, PluginStep, Uninstall, Check):
    """install.py's commands: install(), check(), uninstall()."""

    def install(self) -> int:
        a = self.args
        t0 = time.monotonic()
        say(f"{'DRY RUN: nothing is changed. ' if self.dry else ''}Installing into {self.prefix}")
        self.repair_manifest()
        profiles = [] if a.no_gimp else self.profiles()
        for p in profiles:
            say(f"found {p.label()} profile: {p.path}")
        if profiles:
            plugin_files()  # stop now, not after the downloads, when the checkout lacks it
        if not (ENGINE_SRC / "__main__.py").exists():
            raise InstallError(f"{ENGINE_SRC} has no __main__.py: run install.py from a complete checkout")
        python = info = None
        if a.python:  # check it before anything is downloaded
            python = self.given_python()
            info = self.check_python(python)
        elif not python_runs(venv_python(self.prefix / "venv")):
            self.base_python = engine_base_python()
        self.check_weights_file(python)  # before anything is installed
        weights = None if self.from_pastiche() else self.weights()
        self.save()
        if python is None:
            python = self.make_env()
            self.save()
            info = self.check_python(python)
            self.check_weights_file(python)  # the engine's own check, before engine and plug-in
        if weights is None:  # the converter needs the engine's interpreter (torch)
            weights = self.pastiche_weights(python)
            self.save()
        self.weights_info = self.weights_info or self.describe_weights(weights)
        root = self.engine_code(python, info)
        self.save()
        if profiles:
            self.plugin(profiles, python, root, weights)
        self.manifest.data.update({"engine_python": str(python), "weights": str(weights), "model": a.model,
                                   "device": a.device, "engine_code": str(root), **self.weights_info})
        self.save()
        code = self.self_check_step(python, weights, root)
        self.summary(python, info, root, weights, profiles, failed=code == EXIT_SELFCHECK)
        if not profiles and not a.no_gimp:
            say("\nNo GIMP 3 profile was found, so the plug-in is not installed in any GIMP.\n"
                "Start GIMP 3 once and quit it (that creates the profile), then run this again;\n"
                "or name the profile folder with --gimp-dir DIR (e.g. ~/.config/GIMP/3.0).")
            code = code or EXIT_NO_GIMP
        verdict = "DRY RUN done, nothing changed" if self.dry else "OK" if code == EXIT_OK else "NOT OK"
        say(f"\n{verdict} ({time.monotonic() - t0:.0f} s)")
        return code

    def self_check_step(self, python: Path, weights: Path, root: Path) -> int:
        """Step 5: EXIT_OK, or EXIT_SELFCHECK when the engine does not run as the plug-in runs it."""
        a = self.args
        if a.no_self_check or self.dry:
            say("self-check: " + ("would run doctor and a tiny stylisation" if self.dry else "skipped (--no-self-check)"))
            return EXIT_OK
        say("self-check: engine doctor and a tiny stylisation through the plug-in's command line ...")
        res = self_check(python, model=a.model, weights=weights, device=a.device,
                         expect_engine=root / "nst_engine")
        for line in res.lines:
            say("  " + line)
        return EXIT_OK if res.ok else EXIT_SELFCHECK

    def summary(self, python: Path, info: dict, root: Path, weights: Path, profiles: List[Profile],
                failed: bool = False) -> None:
        a = self.args
        torch_v = (info.get("modules") or {}).get("torch")
        say("\nWould install:" if self.dry else "\nInstalled, but the self-check FAILED (see above):" if failed
            else "\nInstalled:")
        rows = [("engine interpreter", f"{python}" + (f"  (Python {info['version']}, torch {torch_v})" if info else "")),
                ("engine code", f"{root / 'nst_engine'}" + ("  (this checkout, --editable)" if a.editable else "")),
                ("weights", f"{weights}  ({a.model}{self.weights_note()})")] + self.report + [("manifest", str(self.manifest.path))]
        width = max(len(k) for k, _ in rows)
        for k, v in rows:
            say(f"  {k:<{width}}  {v}")
        if any(p.kind == "flatpak" for p in profiles):
            say(f"\nFlatpak GIMP: the plug-in starts the engine on the host through {self.prefix / FLATPAK_WRAPPER}\n"
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
            again += ["--prefix", str(self.prefix)]
        say(f"Check again: {' '.join(quote(x) for x in again[:2] + ['--check'] + again[3:])}")
        say(f"To undo:     {' '.join(quote(x) for x in again)}")
