"""PostgreSQL indexes for the one-box search (invoicing/selectors/search.py), made by migrations.

For each searched column two expression indexes on ``UPPER(column)``, the expression Django writes for
``iexact``/``istartswith``/``icontains``:

- a B-tree in the "C" collation: exact and prefix matches, read in order (``ORDER BY ... LIMIT`` stops
  after the first rows, however many share a prefix such as ``INV-2026``);
- a GIN trigram index (pg_trgm): ``LIKE '%...%'`` for three characters or more.

For invoice numbers, a third: a B-tree on ``REVERSE(UPPER(number))`` in "C", so the end of a number
(``000123``, what people read out) is a prefix lookup too.

SQLite (the demo) has none of them: the same queries run as plain scans there. These indexes are not in the
models' ``Meta`` because SQLite could not create them; the migrations create them on PostgreSQL only.
"""

from __future__ import annotations

from typing import Any


def _statements(table: str, column: str) -> tuple[str, str]:
    key = f'UPPER("{column}"::text)'
    return (
        f'CREATE INDEX IF NOT EXISTS "{table}_{column}_search_key" ON "{table}" (({key}) COLLATE "C")',
        f'CREATE INDEX IF NOT EXISTS "{table}_{column}_search_trgm" ON "{table}" USING gin ({key} gin_trgm_ops)',
    )


def _reversed(table: str, column: str) -> str:
    key = f'REVERSE(UPPER("{column}"::text))'
    return f'CREATE INDEX IF NOT EXISTS "{table}_{column}_search_rev" ON "{table}" (({key}) COLLATE "C")'


def create_search_indexes(
    schema_editor: Any, table: str, columns: tuple[str, ...], *, reversed_too: bool = False
) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in columns:
        for sql in _statements(table, column):
            schema_editor.execute(sql)
        if reversed_too:
            schema_editor.execute(_reversed(table, column))


def drop_search_indexes(schema_editor: Any, table: str, columns: tuple[str, ...]) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in columns:
        for suffix in ("search_key", "search_trgm", "search_rev"):
            schema_editor.execute(f'DROP INDEX IF EXISTS "{table}_{column}_{suffix}"')
