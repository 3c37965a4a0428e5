"""The package layers: lint-imports (a step of make test) holds the import graph to the contracts in
pyproject.toml; these tests hold what it cannot see: no module takes another Kabuto module's private
names or writes another object's private fields."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "replay", "venue", "durability", "gateway", "chain", "cli")
SOURCES = sorted(p for package in PACKAGES for p in (ROOT / package).glob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_another_modules_private_names(path):
    kabuto_imports = [node for node in ast.walk(_tree(path))
                      if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kabuto.")]
    taken = [f"{_where(path, node)} {alias.name} from {node.module}" for node in kabuto_imports
             for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert taken == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_writes_another_objects_private_fields(path):
    written = []
    for node in ast.walk(_tree(path)):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else [])
        for t in targets:
            for leaf in ast.walk(t):
                if (isinstance(leaf, ast.Attribute) and leaf.attr.startswith("_") and not leaf.attr.startswith("__")
                        and not (isinstance(leaf.value, ast.Name) and leaf.value.id in ("self", "cls"))):
                    written.append(f"{_where(path, leaf)} {ast.unparse(leaf)}")
    assert written == []

