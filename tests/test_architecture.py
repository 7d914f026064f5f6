"""The package's shape, read from its source with `ast`: no import cycles, no module reaching
into another's private names, and no head name compared to a string outside `zoo.heads`.

Every import counts, at the top of a module or inside a function, and so do the modules named
by `lazy_import("...")` and `importlib.import_module("...")`: a deferred import is still a
dependency. The implicit import of a parent package (importing `zoo.a.b` runs `zoo/a/__init__`)
is not an edge, as in import-linter.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import zoo
from zoo import heads

PACKAGE = Path(zoo.__file__).resolve().parent
DEFERRED_IMPORTERS = {"lazy_import", "import_module"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _imports(module: str):
    """(imported module, name imported from it or None, line) for every import in `module`."""
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = _package_of(module).split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    yield f"{base}.{alias.name}", None, node.lineno
                elif base in MODULES:
                    yield base, alias.name, node.lineno
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and getattr(node.func, "id", getattr(node.func, "attr", None)) in DEFERRED_IMPORTERS
              and node.args[0].value in MODULES):
            yield node.args[0].value, None, node.lineno


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges[node]:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_every_kind_of_import():
    # The checks below are only as good as this walk: it must see a top-level import, a
    # function-local one, a `from` of a name, and a `lazy_import` target.
    edges = {target for target, _, _ in _imports("zoo.models.gp")}
    assert {"zoo.registry", "zoo._lazy", "zoo.models.gaussian_process"} <= edges
    assert "zoo.saving" in {target for target, _, _ in _imports("zoo.registry")}  # inside `build`
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_import_graph_has_no_cycles():
    edges = {module: {target for target, _, _ in _imports(module) if target != module} for module in MODULES}
    assert _cycles(edges) == []


def test_no_module_imports_another_modules_private_names():
    reaching = []
    for module in MODULES:
        for target, name, line in _imports(module):
            if name is not None and name.startswith("_") and not name.startswith("__"):
                reaching.append(f"{module}:{line} imports {target}.{name}")
            # A private module (`zoo.models._compile`) is for its own package's modules.
            private_parent = next((target.rpartition(".")[0] for part in [target.rpartition(".")[2]]
                                   if part.startswith("_") and not part.startswith("__")), None)
            if private_parent is not None and not (module == private_parent or module.startswith(private_parent + ".")):
                reaching.append(f"{module}:{line} imports {target}, private to {private_parent}")
        for node in ast.walk(ast.parse(MODULES[module].read_text())):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and _aliases(module).get(node.value.id) not in (None, module)):
                reaching.append(f"{module}:{node.lineno} uses {_aliases(module)[node.value.id]}.{node.attr}")
    assert reaching == []


def _aliases(module: str) -> dict[str, str]:
    """{local name: zoo module} for names bound to a zoo module: `from zoo import export as
    zoo_export`, `import zoo.layout as layout`, `variational = lazy_import("zoo.layers.variational")`."""
    bound = {}
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in MODULES:
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in MODULES:
                    bound[alias.asname] = alias.name
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
              and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "lazy_import"
              and isinstance(node.value.args[0], ast.Constant) and node.value.args[0].value in MODULES):
            bound[node.targets[0].id] = node.value.args[0].value
    return bound


@pytest.mark.parametrize("where", ["zoo/export.py", "zoo/uncertainty.py", "zoo/training"])
def test_no_head_name_is_compared_to_a_string_outside_heads(where):
    # A head's meaning lives in zoo/heads.py: elsewhere code asks the head object.
    names = set(heads.HEADS)
    paths = [PACKAGE.parent / where] if where.endswith(".py") else sorted((PACKAGE.parent / where).rglob("*.py"))
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Compare):
                continue
            for side in [node.left, *node.comparators]:
                values = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                if any(isinstance(v, ast.Constant) and v.value in names for v in values):
                    found.append(f"{path.name}:{node.lineno}")
    assert found == []
