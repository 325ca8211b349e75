"""The plug-in's GIMP-independent modules import only the standard library and the contract, and
import in an isolated Python (as GIMP's is)."""
import ast
import subprocess
import sys

from plugin_helpers import PLUGIN_DIR


# The plug-in's GIMP-independent modules (all but the GIMP file and the dialog's preview).
CLIENT_MODULES = sorted(p for p in PLUGIN_DIR.glob("nst_*.py") if p.name != "nst_preview.py")


def test_client_uses_only_the_standard_library():
    names = set()
    for path in CLIENT_MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    names -= {p.stem for p in CLIENT_MODULES} | {"nst_contract"}   # each other, the contract (stdlib only too)
    stdlib = getattr(sys, "stdlib_module_names", None)
    allowed = {"__future__", "json", "os", "re", "shutil", "subprocess", "sys", "tempfile", "time",
               "dataclasses", "typing", "ctypes"}
    assert names <= (set(stdlib) | {"__future__"} if stdlib else allowed), names


def test_client_imports_in_isolated_python():
    r = subprocess.run([sys.executable, "-I", "-c",
                        f"import sys; sys.path.insert(0, {str(PLUGIN_DIR)!r}); import nst_client, nst_jobs; "
                        "print(nst_jobs.PRESETS['draft'])"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
