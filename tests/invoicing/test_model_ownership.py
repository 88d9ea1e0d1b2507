"""One owner per model: no invoicing module writes a billing model (billing's services do, when asked).

A static check over invoicing's source: a write method (``save``, ``update``, ``create``, ``delete``,
``bulk_*``, ...) called on a chain that starts at a model imported from ``billing.models`` fails the test
naming the file and line. (It cannot see ``sub.save()`` on an instance; the review and grep do.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import billing.models

ROOT = Path(__file__).resolve().parents[2]
WRITES = {
    "save",
    "update",
    "create",
    "delete",
    "get_or_create",
    "update_or_create",
    "bulk_create",
    "bulk_update",
}
BILLING_MODELS = {name for name in dir(billing.models) if isinstance(getattr(billing.models, name), type)}


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def billing_model_writes(source: str) -> list[int]:
    """Lines of ``source`` that write a billing model (through a name imported from billing.models)."""
    tree = ast.parse(source)
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "billing.models"
        for alias in node.names
        if alias.name in BILLING_MODELS
    }
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr in WRITES and _root_name(node.func.value) in imported:
            lines.append(node.lineno)
    return sorted(lines)


def test_the_check_finds_a_write() -> None:
    source = "from billing.models import PendingLine\nPendingLine.objects.filter(pk=1).update(x=1)\n"
    assert billing_model_writes(source) == [2]
    assert (
        billing_model_writes("from billing.models import PendingLine\nPendingLine.objects.filter(pk=1)\n")
        == []
    )


def test_no_invoicing_module_writes_a_billing_model() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "invoicing").rglob("*.py"))
        if "migrations" not in path.parts
        for line in billing_model_writes(path.read_text())
    ]
    assert offenders == [], "invoicing writes billing's rows; ask a billing service instead"
