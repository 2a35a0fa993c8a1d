"""No import circle among tpcore's own modules (issue 18), read from the source with ``ast``.

The modules are those of the ``tpcore`` package and of the first-party backends (``backends/tpcore_*``).
Two graphs are checked:

- **module-level imports** (what ``import tpcore.x`` runs, including imports inside top-level
  ``if``/``try`` blocks): no circle at all. ``if TYPE_CHECKING:`` blocks never run and do not count.
- **every import**, function-level ones included: a function-level import is the usual way to hide a
  circle from Python, not from a reader, so none is allowed either, except through the edges of
  :data:`ALLOWED`, each with its reason. An allowed edge that no longer exists fails the test, so the
  list only shrinks.

An import of ``a.b.c`` is an edge to the module ``a.b.c`` only, not to the packages ``a`` and ``a.b``
that Python initialises on the way: otherwise every submodule would form a circle with the package
that imports it. ``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [ROOT / "tpcore", *sorted((ROOT / "backends").glob("tpcore_*"))]

#: (importer, imported) edges through function-level imports that may close a circle, with the reason
ALLOWED: dict[tuple[str, str], str] = {}


def _module_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in package.rglob("*.py"):
            parts = path.relative_to(package.parent).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.Module, module_level: bool):
    """The import statements run at import time (``module_level``) or anywhere, TYPE_CHECKING aside."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node):
            todo.extend(node.orelse)
        elif module_level and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue  # runs when called, not when imported
        else:
            todo.extend(ast.iter_child_nodes(node))


@lru_cache(maxsize=None)
def import_graph(module_level: bool) -> dict[str, frozenset[str]]:
    """``{module: the first-party modules it imports}``."""
    files = _module_files()

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in _imports(ast.parse(path.read_text(), str(path)), module_level):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            targets |= {t for t in map(resolve, names) if t is not None and t != module}
        graph[module] = frozenset(targets)
    return graph


def find_circle(graph: dict[str, frozenset[str]], skip: set[tuple[str, str]] = frozenset()) -> list[str] | None:
    """One circle ``[a, b, ..., a]`` of ``graph`` without the ``skip`` edges, or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if (module, target) in skip:
                continue
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (circle := visit(target)):
                return circle
        path.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (circle := visit(module)):
            return circle
    return None


def _show(circle: list[str]) -> str:
    return " -> ".join(circle)


def test_no_circle_through_module_level_imports():
    circle = find_circle(import_graph(module_level=True))
    assert circle is None, f"import circle at module level: {_show(circle)}"


def test_no_circle_through_any_import_but_the_allowed_edges():
    circle = find_circle(import_graph(module_level=False), set(ALLOWED))
    assert circle is None, (
        f"import circle (function-level imports included): {_show(circle)}; move the shared code into a "
        "module both can import"
    )


def test_every_allowed_edge_still_exists():
    graph = import_graph(module_level=False)
    stale = [f"{a} -> {b}" for a, b in ALLOWED if b not in graph.get(a, ())]
    assert not stale, f"no longer imported, remove from ALLOWED in tests/test_import_graph.py: {', '.join(stale)}"


def test_the_core_does_not_import_the_analysis_at_module_level():
    graph = import_graph(module_level=True)
    for core in ("tpcore.spec", "tpcore.plan"):
        analysis = sorted(m for m in graph[core] if m == "tpcore.analysis" or m.startswith("tpcore.analysis."))
        assert not analysis, f"{core} imports {analysis} at module level"


def test_the_cli_subcommands_share_one_helper_module_and_never_import_the_dispatcher():
    graph = import_graph(module_level=False)
    subcommands = [m for m in graph if m.startswith("tpcore.cli.") and m not in ("tpcore.cli.common", "tpcore.cli.__main__")]
    assert subcommands
    for module in subcommands:
        assert "tpcore.cli" not in graph[module], f"{module} imports tpcore.cli back"
        assert "tpcore.cli.common" in graph[module], f"{module} does not use tpcore.cli.common"


def test_the_checker_finds_circles():
    graph = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}
    assert find_circle(graph) == ["a", "b", "c", "a"]
    assert find_circle(graph, {("c", "a")}) is None
