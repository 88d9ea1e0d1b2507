"""The engine stays pure: no Django, DRF or Celery imports, no floats, nothing from the clock."""

import ast
from pathlib import Path

import pytest

import billing.pricing

PRICING_DIR = Path(billing.pricing.__file__).parent
MODULES = sorted(PRICING_DIR.glob("*.py"))
FORBIDDEN_ROOTS = {"django", "rest_framework", "celery", "stripe", "accounts", "invoicing", "config"}


def imported_roots(tree: ast.AST) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_imports_nothing_outside_the_stdlib_and_the_engine(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert imported_roots(tree) & FORBIDDEN_ROOTS == set()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_uses_no_float_and_no_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Constant) and isinstance(node.value, float)), (
            f"float literal in {path.name}"
        )
        if isinstance(node, ast.Name):
            assert node.id != "float", f"float used in {path.name}"
        # The engine takes business time as input; reading the clock would make rating unrepeatable.
        if isinstance(node, ast.Attribute):
            assert node.attr not in {"now", "utcnow", "today", "monotonic"}, f"clock read in {path.name}"


def test_public_names_are_re_exported() -> None:
    for name in billing.pricing.__all__:
        assert hasattr(billing.pricing, name)
