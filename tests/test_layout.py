"""The project's shape, checked statically: no import cycle, no product module over 600 lines,
and ``integrations/`` independent of ``bridge/`` and Django.

Imports are read with :mod:`ast`, never executed. A cycle among module-level imports is one a
fresh interpreter can trip over (a half-initialised module); a cycle that needs an import
inside a function is one Python resolves at call time, but it still says that two modules
lean on each other, so it counts too. Imports under ``if TYPE_CHECKING:`` never run and do not
count; a package's own ``__init__`` running before its submodules is not an edge.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bridge", "integrations")
MAX_LINES = 600


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    in_function: bool
    line: int


def module_files() -> dict[str, Path]:
    """Every product module by dotted name (migrations aside)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(tree: ast.AST):
    """(import node, inside a function) for every import that runs."""

    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child):
                for other in child.orelse:
                    yield from walk_one(other, in_function)
                continue
            yield from walk_one(child, in_function)

    def walk_one(node, in_function):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, in_function
            return
        nested = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        yield from walk(node, nested)

    yield from walk(tree, False)


def targets(node, module: str, is_package: bool, known: set[str]) -> list[str]:
    """The modules an import statement loads (only names that exist as modules count)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    found = []
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        found.append(candidate if candidate in known else base)
    return found


def import_edges() -> list[Edge]:
    """Every import from one product module to another, or to anything else."""
    files = module_files()
    known = set(files)
    edges = []
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node, in_function in imports(tree):
            for target in targets(node, module, is_package, known):
                edges.append(Edge(module, target, in_function, node.lineno))
    return edges


def cycles(edges: list[Edge]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan), or a module that
    imports itself."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue  # outside the project
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def describe(component: frozenset[str], edges: list[Edge]) -> str:
    inside = [e for e in edges if e.source in component and e.target in component]
    return "; ".join(
        f"{e.source}:{e.line} → {e.target}{' (in a function)' if e.in_function else ''}"
        for e in sorted(inside, key=lambda e: (e.source, e.line))
    )


def test_no_import_cycle_among_module_level_imports():
    edges = [edge for edge in import_edges() if not edge.in_function]
    found = cycles(edges)
    assert not found, "import cycles: " + " | ".join(describe(c, edges) for c in found)


def test_no_import_cycle_even_through_imports_inside_functions():
    """An import inside a function breaks a cycle at start-up only; the modules still lean on
    each other, and the next module-level import closes the loop. None is allowed."""
    edges = import_edges()
    found = set(cycles(edges))
    assert not found, "import cycles: " + " | ".join(describe(c, edges) for c in found)


def line_counts() -> dict[str, int]:
    counts = {}
    for path in module_files().values():
        with path.open(encoding="utf-8") as lines:
            counts[path.relative_to(ROOT).as_posix()] = sum(1 for _ in lines)
    return counts


def test_no_product_module_over_600_lines():
    """Every module, with no exceptions: a module past the limit is split by role."""
    counts = line_counts()
    assert "integrations/fakes/leeloo/people.py" in counts  # the count sees the fake's package
    too_long = {path: n for path, n in counts.items() if n > MAX_LINES}
    assert not too_long, f"over {MAX_LINES} lines, split them: {too_long}"


def test_integrations_import_nothing_from_bridge_or_django():
    """The arrows point one way: bridge/ uses integrations/, never the reverse."""
    wrong = [
        f"{edge.source}:{edge.line} imports {edge.target}"
        for edge in import_edges()
        if edge.source.split(".")[0] == "integrations"
        and edge.target.split(".")[0] in ("bridge", "django")
    ]
    assert not wrong, wrong


def test_the_checks_see_what_they_check():
    """The parser finds imports of each kind; a cycle made up here is found."""
    edges = import_edges()
    assert any(e.source == "bridge.admin.push" and e.target == "bridge.outbox" for e in edges)
    assert any(e.in_function for e in edges)
    assert any(e.source.startswith("integrations.") and e.target == "requests" for e in edges)
    made_up = [Edge("a", "b", False, 1), Edge("b", "c", False, 1), Edge("c", "a", True, 1)]
    assert cycles(made_up) == [frozenset({"a", "b", "c"})]
    assert cycles(made_up[:2]) == []
