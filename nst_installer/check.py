"""--check: what is installed, whether it is intact, and the self-check; changes nothing.
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from nst_contract.options import DEFAULT_MODEL
from nst_contract.plugin_config import CONFIG_NAME

from .common import EXIT_FAIL, EXIT_OK, PLUGIN_NAME, say
from .selfcheck import self_check
from .session import Session
from .weight_files import MODELS, expected_prefix, sha256_file


class Check(Session):
    """Reporting on an install."""

    def check(self) -> int:
        """Report only: what is installed, whether it is intact, and the self-check."""
        m = self.manifest
        if not m.path.exists():
            say(f"not installed: no manifest at {m.path}" + ("" if self.args.prefix else
                " (installed with another --prefix? pass the same --prefix)"))
            return EXIT_FAIL
        say(f"manifest: {m.path}")
        ok = all([self.check_entry(e) for e in m.entries])
        installed = {str(Path(e["path"])) for e in m.entries}
        for prof in ([] if self.args.no_gimp else self.profiles()):
            if str(prof.plugin_dir / CONFIG_NAME) not in installed:
                ok = False
                say(f"  [NOT INSTALLED] {prof.label()} profile {prof.path}: run install.py again")
        weights = Path(m.data.get("weights", ""))
        want = expected_prefix(weights.name)
        if weights.is_file() and want and weights.name in {Path(v['url']).name for v in MODELS.values()}:
            good = sha256_file(weights).startswith(want)
            ok &= good
            say(f"  [{'ok' if good else 'DAMAGED'}] weights checksum ({want}...)")
        ok &= self.check_recorded_weights(weights)
        python = Path(m.data.get("engine_python", ""))
        if python.exists() and not self.args.no_self_check:
            say("self-check:")
            res = self_check(python, model=m.data.get("model", DEFAULT_MODEL), weights=weights if weights.is_file() else None,
                             device=m.data.get("device", "auto"),
                             expect_engine=Path(m.data["engine_code"]) / "nst_engine" if m.data.get("engine_code") else None)
            for line in res.lines:
                say("  " + line)
            ok &= res.ok
        say("OK" if ok else "NOT OK: run install.py again to repair")
        return EXIT_OK if ok else EXIT_FAIL

    def check_entry(self, e: dict) -> bool:
        """One manifest entry: present; the plug-in's main file executable; its config's paths there."""
        p = Path(e["path"])
        present = p.is_file() if e["kind"] == "file" else p.is_dir()
        say(f"  [{'ok' if present else 'MISSING'}] {e['what']}: {p}")
        ok = present
        if present and e["kind"] == "file" and p.name == f"{PLUGIN_NAME}.py" and platform.system() != "Windows":
            if not os.access(p, os.X_OK):
                ok = False
                say(f"  [NOT EXECUTABLE] {p}: GIMP skips it; chmod +x it or run install.py again")
        if present and p.name == CONFIG_NAME:
            ok &= self.check_config_file(p)
        return ok

    def check_config_file(self, p: Path) -> bool:
        try:
            cfg = json.loads(p.read_text())
            ok = True
            for key in ("engine_python", "weights"):
                if not Path(cfg[key]).exists():
                    ok = False
                    say(f"  [BROKEN] {p}: {key} {cfg[key]} does not exist")
            return ok
        except (ValueError, KeyError) as exc:
            say(f"  [BROKEN] {p}: {exc}")
            return False
