"""No import cycle in src/pytest_dome or in benchmarks/, counting every import
statement: function-level ones and those under ``if TYPE_CHECKING:`` too.

import-linter's contracts (pyproject.toml, ``just lint``) keep the layers of
docs/design.md; this test also covers the benchmarks, which are scripts and not a
package, and needs nothing but the standard library.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

Graph = dict[str, dict[str, int]]
"""Module -> {module of the same tree it imports: the line of the first such import}."""


def _name(path: Path, folder: Path, package: str | None) -> str:
    if package is None:
        return path.stem
    parts = [package, *path.relative_to(folder).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(folder: Path, package: str | None = None) -> Graph:
    """The imports between the modules under ``folder``: a package named ``package``,
    or (None) a folder of scripts that import each other by their file names."""
    files = {_name(path, folder, package): path for path in sorted(folder.rglob("*.py"))}
    graph: Graph = {}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            found: list[str] = []
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = module.split(".")[: len(module.split(".")) - node.level + is_package]
                    base = ".".join([*parts, *([base] if base else [])])
                # `from x import y` imports the module x.y when there is one, else x
                found = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for name in found:
                while name and name not in files:  # `import a.b.c` imports a.b.c, or the nearest module
                    name = name.rpartition(".")[0]
                if name and name != module:
                    edges.setdefault(name, node.lineno)
        graph[module] = edges
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def shown(graph: Graph, component: list[str]) -> str:
    return "; ".join(
        f"{a} -> {b} (line {graph[a][b]})" for a in component for b in sorted(graph[a]) if b in component
    )


@pytest.mark.parametrize(
    ("folder", "package"),
    [("src/pytest_dome", "pytest_dome"), ("benchmarks", None)],
    ids=["src", "benchmarks"],
)
def test_no_import_cycle(folder: str, package: str | None) -> None:
    graph = import_graph(ROOT / folder, package)
    assert len(graph) > 5 and sum(map(len, graph.values())) > 5  # it did read the imports
    assert [shown(graph, c) for c in cycles(graph)] == []


def test_a_cycle_through_a_function_level_or_type_checking_import_is_found(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from . import b\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import x\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from .a import f\nfrom pkg import c\n")
    graph = import_graph(pkg, "pkg")
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert shown(graph, ["pkg.a", "pkg.b", "pkg.c"]) == (
        "pkg.a -> pkg.b (line 2); pkg.b -> pkg.c (line 3); pkg.c -> pkg.a (line 1)"
    )
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "one.py").write_text("import two\n")
    (scripts / "two.py").write_text("def g():\n    from one import h\n")
    assert cycles(import_graph(scripts)) == [["one", "two"]]
