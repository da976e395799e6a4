"""The layout of stream_apps/ holds: no import cycle, and the worker never needs a tool.

The import graph is read from the source (every ``import``/``from`` statement, also the
ones inside functions), so a lazy import cannot hide a cycle or a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "stream_apps"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_imports(path: Path, known: set[str]) -> set[str]:
    """The stream_apps modules ``path`` imports (``from pkg import mod`` counts as pkg.mod)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: project_imports(path, set(files)) - {name} for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_sees_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_stream_apps_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 30  # the walk found the package
    assert find_cycle(graph) is None


def test_worker_and_plumbing_never_import_tools() -> None:
    offenders = {
        (module, dep)
        for module, deps in import_graph().items()
        if module.startswith(("stream_apps.worker", "stream_apps.kafka"))
        for dep in deps if dep.startswith("stream_apps.tools")
    }
    assert offenders == set()


def test_plumbing_never_imports_the_worker() -> None:
    offenders = {
        (module, dep)
        for module, deps in import_graph().items() if module.startswith("stream_apps.kafka")
        for dep in deps if dep.startswith("stream_apps.worker")
    }
    assert offenders == set()
