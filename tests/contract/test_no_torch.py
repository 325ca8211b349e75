"""The contract is standard library only, and the engine's --help, usage errors and its
package import never load torch (seconds of start-up that a mistake should not pay for)."""
import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "PIL", "numpy", "gi", "onnxruntime", "tqdm")

PROBE = """
import json, sys
sys.argv = ["nst-engine", *json.loads(sys.argv[1])]
import {module}
code = None
try:
    {call}
except SystemExit as e:
    code = e.code
print("\\n" + json.dumps({{"code": code, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def probe(repo_dir, module, call, argv=()):
    code = PROBE.format(module=module, call=call, heavy=HEAVY)
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(list(argv))], cwd=repo_dir,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["nst_contract", "nst_contract.options", "nst_contract.requests",
                                    "nst_contract.events", "nst_contract.process",
                                    "nst_contract.iterations"])
def test_the_contract_imports_only_the_standard_library(repo_dir, module):
    assert probe(repo_dir, module, "pass")["heavy"] == []


def test_importing_the_engine_package_loads_no_torch(repo_dir):
    assert probe(repo_dir, "nst_engine", "nst_engine.__version__, nst_engine.__all__")["heavy"] == []


@pytest.mark.parametrize("argv, code", [
    (["--help"], 0),
    (["stylize", "--help"], 0),
    (["visualize", "--help"], 0),
    (["doctor", "--help"], 0),
    (["serve", "--help"], 0),
    (["stylize", "c.png", "--progress", "json"], 2),  # usage error: no -o
    (["stylize", "c.png", "-o", "o.png", "--quality", "fast"], 2),
    (["visualize", "--progress", "json"], 2),
    (["nonsense"], 2),
])
def test_help_and_usage_errors_load_no_torch(repo_dir, argv, code):
    result = probe(repo_dir, "nst_engine.cli", "sys.exit(nst_engine.cli.main())", argv)
    assert result == {"code": code, "heavy": []}


def test_python_m_nst_engine_help_imports_no_torch(repo_dir):
    """The real entry point, timed by the interpreter itself (-X importtime lists every import)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "nst_engine", "--help"], cwd=repo_dir,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "stylize" in proc.stdout
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "nst_engine.cli" in imported and "nst_contract.requests" in imported
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
