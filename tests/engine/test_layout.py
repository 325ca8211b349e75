"""The engine's layout, read from the source with ast: three layers, no import cycle, no private
name used outside its module.

- front doors (``cli``, ``serve``, ``doctor``, ``visualize_cli``, the package itself) may import
  the jobs and the services; a job (``transfer/``, ``visualize/``) the services and itself, never
  another job or a front door; a service (``services/``) only services;
- no import cycle among nst_engine's modules (imports inside functions count: they are the
  same dependency, only later);
- no ``from module import _name`` and no ``module._name`` of one of the checkout's modules
  anywhere in it: engine, contract, plug-in, installer, tests and benchmarks.

Each rule is also run on a small made-up package that breaks it, so a checker that sees
nothing cannot pass.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FRONT_DOORS = ("cli", "serve", "doctor", "visualize_cli", "__main__")
JOBS = ("transfer", "visualize", "instant")


# ----------------------------------------------------------------------------- reading the source


def modules_of(root: Path, package: str) -> dict:
    """{dotted module name: parsed tree} of every .py file of ``package`` under ``root``."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = (ast.parse(path.read_text(), str(path)), path.name == "__init__.py")
    return out


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` reads from."""
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[:len(parts) - node.level + 1]
    return ".".join(parts + ([node.module] if node.module else []))


def imports_of(module: str, tree, is_package: bool, known) -> list:
    """[(imported module, name or None, line)] of every import in ``module``, functions included;
    ``from package import submodule`` counts as an import of the submodule."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = _base(module, is_package, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((sub, None, node.lineno) if sub in known else (base, alias.name, node.lineno))
    return out


# ----------------------------------------------------------------------------- the rules


def private_uses(files: dict, known) -> list:
    """'file:line name' for each private name of one of the ``known`` modules used outside it."""
    found = []
    for label, (module, tree, is_package) in files.items():
        aliases = {}  # local name -> project module it is bound to
        for imported, name, line in imports_of(module, tree, is_package, known):
            if imported not in known:
                continue
            if name is not None and name.startswith("_") and not name.startswith("__"):
                found.append(f"{label}:{line} imports {name} from {imported}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in known:
                        aliases[alias.asname or alias.name.split(".")[0]] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                base = _base(module, is_package, node)
                for alias in node.names:
                    if f"{base}.{alias.name}" in known:
                        aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append(f"{label}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return found


def graph(modules: dict, package: str) -> dict:
    """{module: {modules of ``package`` it imports}}."""
    known = set(modules)
    edges = {}
    for module, (tree, is_package) in modules.items():
        edges[module] = {m for m, _name, _line in imports_of(module, tree, is_package, known)
                         if (m == package or m.startswith(package + ".")) and m != module}
    return edges


def cycles(edges: dict) -> list:
    """Each import cycle once, as [a, b, ..., a] (strongly connected components of size > 1)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component) + [sorted(component)[0]])

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def layer(module: str, package: str) -> tuple:
    """(rank, unit): front doors 2, jobs 1 (the unit: which job), services 0."""
    parts = module.split(".")[1:]
    if not parts or parts[0] in FRONT_DOORS:
        return 2, "front"
    if parts[0] in JOBS:
        return 1, parts[0]
    if parts[0] == "services":
        return 0, "services"
    raise AssertionError(f"{module} is in no layer: put it in a front door, a job or {package}.services")


def upward(edges: dict, package: str) -> list:
    """'a -> b' for each import against the direction front doors → jobs → services."""
    bad = []
    for a, targets in sorted(edges.items()):
        rank_a, unit_a = layer(a, package)
        for b in sorted(targets):
            rank_b, unit_b = layer(b, package)
            if rank_b > rank_a or (rank_b == rank_a == 1 and unit_a != unit_b):
                bad.append(f"{a} -> {b}")
    return bad


def _scanned_files(root: Path) -> tuple:
    """({file: (module, tree, is_package)}, every importable module name): the whole checkout.

    A folder without ``__init__.py`` (the plug-in's, the tests', the benchmarks') is on
    sys.path where its files run, so its modules are imported by their bare names."""
    files, known = {}, set()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0].startswith(".") or "__pycache__" in rel.parts:
            continue
        parts = list(rel.with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        elif not (path.parent / "__init__.py").exists():
            parts = parts[-1:]
        module = ".".join(parts)
        files[str(rel)] = (module, ast.parse(path.read_text(), str(path)), is_package)
        known.add(module)
    return files, known


# ----------------------------------------------------------------------------- the engine


def test_no_private_name_is_used_outside_its_module():
    files, known = _scanned_files(REPO)
    assert private_uses(files, known) == []


def test_the_engine_has_no_import_cycle():
    assert cycles(graph(modules_of(REPO, "nst_engine"), "nst_engine")) == []


def test_imports_go_from_front_doors_to_jobs_to_services_only():
    edges = graph(modules_of(REPO, "nst_engine"), "nst_engine")
    assert any(b.startswith("nst_engine.services") for b in edges["nst_engine.transfer.coarse_to_fine"])
    assert upward(edges, "nst_engine") == []


def test_no_two_modules_or_classes_of_the_engine_and_the_contract_share_a_name():
    modules = {**modules_of(REPO, "nst_engine"), **modules_of(REPO, "nst_contract")}
    names = [m.rsplit(".", 1)[-1] for m, (_tree, is_package) in modules.items() if not is_package]
    classes = [node.name for tree, _ in modules.values() for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    assert len(names) > 40 and len(classes) > 40
    assert sorted({n for n in names if names.count(n) > 1}) == []
    assert sorted({n for n in classes if classes.count(n) > 1}) == []


# ----------------------------------------------------------------------------- the rules can fail


def _write(root: Path, files: dict) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_each_rule_finds_its_violation(tmp_path):
    _write(tmp_path, {
        "nst_engine/__init__.py": "",
        "nst_engine/cli.py": "from .transfer import run\n",
        "nst_engine/services/__init__.py": "",
        "nst_engine/services/images.py": "def load():\n    from ..transfer.run import go  # upward, and a cycle\n",
        "nst_engine/transfer/__init__.py": "",
        "nst_engine/transfer/run.py": "from ..services import images\nfrom .plan import _private\n\n"
                                      "def go():\n    return images._load()\n",
        "nst_engine/transfer/plan.py": "_private = 1\nfrom ..visualize import scan  # another job\n",
        "nst_engine/visualize/__init__.py": "",
        "nst_engine/visualize/scan.py": "",
    })
    modules = modules_of(tmp_path, "nst_engine")
    edges = graph(modules, "nst_engine")
    assert cycles(edges) == [["nst_engine.services.images", "nst_engine.transfer.run", "nst_engine.services.images"]]
    assert upward(edges, "nst_engine") == ["nst_engine.services.images -> nst_engine.transfer.run",
                                           "nst_engine.transfer.plan -> nst_engine.visualize.scan"]
    files = {f"{m}.py": (m, tree, is_package) for m, (tree, is_package) in modules.items()}
    assert private_uses(files, set(modules)) == [
        "nst_engine.transfer.run.py:2 imports _private from nst_engine.transfer.plan",
        "nst_engine.transfer.run.py:5 uses nst_engine.services.images._load"]
