"""The import graph of the library: no loops, and every import points down its layers.

The imports are read with ``ast`` from the source files (module-level and function-level
alike, since a lazy import is a dependency too), so the check needs no import to run.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "models", "pipelines", "scripts")

# The layers, lowest first: a module may import only modules of a strictly lower rank, where
# both are ranked in the table of the package that holds them both (the first table down the
# path they share). A module missing from its table fails the test: place a new module on
# purpose. A subpackage that is not listed here is one module for the tables above it, and
# only loops are checked inside it.
RANKS = {
    "": {"features": 0, "models": 0, "pipelines": 1, "scripts": 2},
    "features": {
        "_validation": 0,
        "_hog_kernels": 0,
        "_color_kernels": 0,
        "_bovw_kernels": 0,
        "_base": 1,
        "raw": 2,
        "hog": 2,
        "color": 2,
        "bovw": 3,  # dense HOG descriptors come from the HOG module's cell kernel
        "__init__": 4,
    },
    "models": {
        "_param": 0,
        "activations": 1,
        "losses": 1,
        "schedules": 1,
        "optimizers": 1,
        "network": 2,
        "linear": 3,
        "lecture": 3,
        "__init__": 4,
    },
    "pipelines": {
        "_runtime": 0,
        "_charts": 0,
        "_assembly": 1,
        "datasets": 1,
        "registry": 2,
        "model_files": 3,
        "batch": 4,
        "search": 4,
        "compare": 4,
        "lecture": 4,
        "serve": 5,
        "cli": 6,
        "__init__": 7,
    },
    "pipelines.cli": {
        "_common": 0,
        "compare": 1,
        "extract": 1,
        "predict": 1,
        "search": 1,
        "show_hog": 1,
        "lecture": 1,
        "serve": 1,
        "train": 1,
        "features": 2,  # a folder job as extract runs it: its options and report
        "__init__": 3,
    },
    "pipelines.serve": {
        "settings": 0,
        "responses": 0,
        "metrics": 0,
        "batching": 0,
        "models": 1,
        "inputs": 2,
        "oip": 3,
        "app": 4,
        "__init__": 5,
    },
}


def _modules():
    """{dotted module name: path} of every source file of the packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            found[".".join(parts)] = path
    return found


def _imports(name, path, modules):
    """The modules of the packages that module ``name`` imports (resolved, deduplicated)."""
    is_package = path.name == "__init__.py"
    package = name.split(".") if is_package else name.split(".")[:-1]
    if is_package:
        package = package[:-1]  # "features.__init__" lives in package "features"
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found = [_resolve(alias.name, modules) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            # "from package import submodule" depends on the submodule; "from module import
            # name" on the module
            found = [
                _resolve(f"{module}.{alias.name}", modules) or _resolve(module, modules)
                for alias in node.names
            ]
        else:
            continue
        targets.update(t for t in found if t is not None and t != name)
    return targets


def _resolve(dotted, modules):
    """The module a dotted name refers to: itself, or its package's ``__init__``."""
    if dotted in modules:
        return dotted
    if f"{dotted}.__init__" in modules:
        return f"{dotted}.__init__"
    return None


def _graph():
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _rank_pair(source, target):
    """The table both modules are ranked in, and their ranks there, or None to skip."""
    a, b = source.split("."), target.split(".")
    common = 0
    while common < min(len(a), len(b)) - 1 and a[common] == b[common]:
        common += 1
    table_name = ".".join(a[:common])
    if table_name not in RANKS:
        return None  # inside an unlisted subpackage: only loops are checked
    table = RANKS[table_name]
    return table_name, table.get(a[common]), table.get(b[common]), a[common], b[common]


def test_every_module_is_placed_in_a_layer():
    missing = []
    for name in _modules():
        parts = name.split(".")
        for depth in range(len(parts)):
            table_name = ".".join(parts[:depth])
            if table_name not in RANKS:
                break
            if parts[depth] not in RANKS[table_name]:
                missing.append(f"{parts[depth]} in RANKS[{table_name!r}] (for {name})")
                break
    if "scripts" in RANKS:
        pytest.fail("scripts are leaves: they are not ranked against each other")
    assert not missing, "modules without a layer: " + "; ".join(missing)


def test_imports_point_down():
    upward = []
    for source, targets in _graph().items():
        for target in sorted(targets):
            pair = _rank_pair(source, target)
            if pair is None:
                continue
            table, rank_source, rank_target, a, b = pair
            if table == "scripts" or (rank_source is None or rank_target is None):
                if table == "scripts":
                    upward.append(f"{source} -> {target} (a script imports another script)")
                continue
            if rank_target >= rank_source:
                upward.append(
                    f"{source} -> {target} ({a}: rank {rank_source}, {b}: rank {rank_target} "
                    f"in {table or 'the top level'})"
                )
    assert not upward, "imports that do not point down:\n" + "\n".join(upward)


def test_no_import_loops():
    graph = _graph()
    state, loops = {}, []

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                loops.append(" -> ".join(stack[stack.index(target) :] + [target]))
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not loops, "import loops:\n" + "\n".join(loops)


def test_the_checks_see_a_planted_upward_import(tmp_path, monkeypatch):
    """The graph reader resolves relative imports, so a bad one would be seen."""
    modules = {"pipelines.datasets": tmp_path / "datasets.py", "pipelines.batch": None}
    (tmp_path / "datasets.py").write_text("def f():\n    from .batch import extract_folder\n")
    assert _imports("pipelines.datasets", modules["pipelines.datasets"], modules) == {
        "pipelines.batch"
    }
    assert _rank_pair("pipelines.datasets", "pipelines.batch")[1:3] == (1, 4)
