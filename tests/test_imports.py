"""No import cycles between gankit's modules.

The graph has an edge A -> B when module A imports gankit module B while A itself is being imported:
an import statement at module level (also inside a module-level ``if``, ``try`` or ``with``, or a
class body), but not inside a function, and not under ``if TYPE_CHECKING:``. A cycle in that graph
makes the outcome depend on which module a user imports first; an import inside a function, made
when the function runs, cannot take part in one.

``from pkg import name`` points at the submodule ``pkg.name`` when there is one, else at ``pkg``;
``import a.b.c`` at ``a.b.c``. The parent packages that Python loads on the way are not edges:
they are in ``sys.modules`` before the module runs, so ``gankit.models.dcgan`` importing
``gankit.models.mlp`` is no cycle through ``gankit.models``. A module that names its parent
explicitly (``from gankit.data import build_dataset`` inside ``gankit.data.images``) does make
an edge: that one fails when the parent's ``__init__`` imports the module first.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "gankit"


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the package."""
    out = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_time_nodes(body: list[ast.stmt]):
    """The import statements that run when the module runs (see the module docstring)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue  # runs when called, not when imported
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _import_time_nodes(node.body)
            yield from _import_time_nodes(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]):
                yield from _import_time_nodes(block)
        elif isinstance(node, (ast.With, ast.For, ast.While, ast.ClassDef)):
            yield from _import_time_nodes(node.body)
            yield from _import_time_nodes(getattr(node, "orelse", []))


def _targets(name: str, node: ast.stmt, modules: dict[str, Path]) -> set[str]:
    """The gankit modules an import statement of module ``name`` imports."""
    is_pkg = modules[name].name == "__init__.py"
    found = set()
    if isinstance(node, ast.Import):
        bases = [alias.name for alias in node.names]
        for base in bases:
            parts = base.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts:
                found.add(".".join(parts))
        return found
    if node.level:  # relative: from . import x / from ..a import b
        anchor = name.split(".") if is_pkg else name.split(".")[:-1]
        anchor = anchor[:len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if not (base == PACKAGE or base.startswith(PACKAGE + ".")):
        return found
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in modules:
            found.add(sub)
        elif base in modules:
            found.add(base)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the gankit modules it imports at import time."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges = set()
        for node in _import_time_nodes(tree.body):
            edges |= _targets(name, node, modules)
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle [a, b, ..., a] of the graph, or None (depth-first search, modules in sorted order)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state:
                cycle = visit(v)
                if cycle:
                    return cycle
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state:
            cycle = visit(u)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_module_level_imports_only():
    graph = import_graph()
    assert "gankit.errors" in graph["gankit.apps.invert"]  # a plain module-level import
    assert "gankit.apps.encoder" in graph["gankit.apps.invert"]
    assert "gankit.data" not in graph["gankit.data.images"]  # imported inside read_images only
    assert "gankit.models" not in graph["gankit.models.dcgan"]  # the parent loaded on the way is no edge
    assert "gankit.models.mlp" in graph["gankit.models.dcgan"]


def test_find_cycle_on_small_graphs():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
