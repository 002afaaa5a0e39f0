"""The package's layers point one way: ``stats/`` (pure modelling, no Dagster) and
``lib/`` import nothing from ``defs/``; nothing under ``defs/`` imports the code location
module (which loads ``defs/``); a ``defs/<domain>/`` imports no other domain's modules
(what domains share lives below ``defs/``); and no modules import each other in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import clv_assets

pytestmark = pytest.mark.fast

PACKAGE = Path(clv_assets.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth (lazy imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in (PACKAGE / folder).rglob("*.py")
        for name in imported_modules(path)
        if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
    )


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("stats", ("clv_assets.defs", "clv_assets.definitions", "clv_assets.lib", "dagster", "dagster_duckdb")),
        ("lib", ("clv_assets.defs", "clv_assets.definitions")),
        ("defs", ("clv_assets.definitions",)),
    ],
)
def test_layers_point_one_way(folder, forbidden):
    assert violations(folder, forbidden) == []


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def test_domains_do_not_import_each_other():
    domains = sorted(p.name for p in (PACKAGE / "defs").iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert {"ingestion", "models", "evaluation", "predictions", "bands", "marts"} <= set(domains)
    found = []
    for domain in domains:
        others = tuple(f"clv_assets.defs.{other}" for other in domains if other != domain)
        found += violations(f"defs/{domain}", others)
    # the top-level defs modules (the jobs) select by key, not by importing a domain
    for path in (PACKAGE / "defs").glob("*.py"):
        found += [
            f"{path.name} imports {name}"
            for name in imported_modules(path)
            if any(name.startswith(f"clv_assets.defs.{d}") for d in domains)
        ]
    assert found == []


def test_no_import_circle():
    """A module graph with no cycle (lazy imports count: they are still a dependency)."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {
        name: {m for m in imported_modules(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [node, nxt]) if nxt in path else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert cycles == []


def test_relative_imports_are_not_used():
    """The layer test reads absolute imports only."""
    relative = [
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert relative == []
