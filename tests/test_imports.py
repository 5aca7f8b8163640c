"""The project's import structure, read from the source with ``ast`` (nothing
is imported): the modules of search/, indexer/ and webui/ form no import
cycle, and each imports the others at its top, where a reader sees what it
depends on.

A function-level import of a project module usually hides a cycle; the one
exception is webui/cli.py, which defers the search engine and the server so
that `vnsearch --help` answers at once. Lazy imports of third-party modules
(e.g. pyvi, slow to load) are not the business of this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers import ROOT

PACKAGES = ("search", "indexer", "webui")
MAY_DEFER = {"webui.cli"}  # imports inside functions allowed here, for a fast --help


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for package in PACKAGES
           for path in sorted((ROOT / package).rglob("*.py"))}


def imported_modules(node: ast.Import | ast.ImportFrom, importer: str) -> list[str]:
    """The project modules an import statement loads (``from pkg import mod``
    loads pkg.mod when that is a module, else pkg), with their packages."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the importer's package, up level-1 steps
            package = importer.split(".")
            if MODULES[importer].name != "__init__.py":
                package = package[:-1]
            package = package[:len(package) - (node.level - 1)]
            base = ".".join([*package, *([base] if base else [])])
        targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                   for alias in node.names]
    found = set()
    for target in targets:
        parts = target.split(".")
        found |= {".".join(parts[:n]) for n in range(1, len(parts) + 1)} & set(MODULES)
    return sorted(found - {importer})


def imports(name: str) -> tuple[list[str], list[tuple[int, str]]]:
    """(project modules imported at the top level, (line, module) imported inside a function or class)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"), filename=str(MODULES[name]))
    top, nested = set(), []

    def walk(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                targets = imported_modules(child, name)
                if inside:
                    nested.extend((child.lineno, target) for target in targets)
                else:
                    top.update(targets)
            walk(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.ClassDef, ast.Lambda)))

    walk(tree, False)
    return sorted(top), nested


GRAPH = {name: imports(name)[0] for name in MODULES}


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle (a list of modules whose last imports the first), or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == "open":
                return path[path.index(nxt):]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_modules_are_found():
    assert {"search.engine", "search.request", "indexer.store", "webui.app", "webui.cli"} <= set(MODULES)
    assert "search.request" in GRAPH["webui.api"] and "webui.api" in GRAPH["webui.app"]


def test_there_is_no_import_cycle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join([*cycle, cycle[0]])


@pytest.mark.parametrize("name", sorted(set(MODULES) - MAY_DEFER))
def test_project_modules_are_imported_at_the_top(name):
    nested = imports(name)[1]
    assert nested == [], f"{MODULES[name].relative_to(ROOT)} imports inside a function: " + ", ".join(
        f"{target} (line {line})" for line, target in nested)


# -- the checks themselves -----------------------------------------------------------
def test_find_cycle_finds_cycles_and_only_cycles():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b", "c"], "b": ["c"], "c": []}) is None  # a diamond is no cycle
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c"]
    assert find_cycle({"x": ["a"], "a": ["b"], "b": ["a"]}) == ["a", "b"]


def test_imports_are_resolved_to_modules():
    def resolve(source: str, importer: str = "webui.pages") -> list[str]:
        return imported_modules(ast.parse(source).body[0], importer)

    assert resolve("from webui import api, urls") == ["webui", "webui.api", "webui.urls"]
    assert resolve("from search.request import SearchRequest") == ["search", "search.request"]
    assert resolve("import indexer.store") == ["indexer", "indexer.store"]
    assert resolve("from . import chart") == ["webui", "webui.chart"]
    assert resolve("from .context import engine") == ["webui", "webui.context"]
    assert resolve("import flask") == [] and resolve("from pathlib import Path") == []
