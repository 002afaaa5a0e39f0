"""The package's layers point one way: ``stats/`` (pure modelling, no Dagster) and
``lib/`` import nothing from ``defs/``, and nothing under ``defs/`` imports the code
location module (which loads ``defs/``)."""

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


def test_relative_imports_are_not_used():
    """The layer test reads absolute imports only."""
    relative = [
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert relative == []
