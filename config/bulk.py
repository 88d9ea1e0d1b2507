"""Fast bulk UPDATE of many rows with different values, for the billing hot path.

Django's ``bulk_update`` builds a ``CASE WHEN id = ... THEN ...`` expression per field and row, which
costs seconds of Python for a chunk of a few hundred rows. On PostgreSQL this sends one
``UPDATE ... FROM (VALUES ...)`` statement instead; elsewhere it falls back to ``bulk_update``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models


def bulk_update_rows(objs: Sequence[models.Model], fields: Sequence[str], *, batch_size: int = 1000) -> None:
    """Write ``fields`` of ``objs`` (same model) in as few statements as possible."""
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objs, list(fields), batch_size=batch_size)
        return
    meta = model._meta
    concrete = [meta.get_field(name) for name in fields]
    pk = meta.pk
    assert pk is not None
    columns: list[str] = [str(pk.column), *(str(f.column) for f in concrete)]  # type: ignore[union-attr]
    types = [pk.db_type(connection), *(f.db_type(connection) for f in concrete)]
    table = connection.ops.quote_name(meta.db_table)
    quoted = [connection.ops.quote_name(c) for c in columns]
    assignments = ", ".join(f"{quoted[i]} = v.{quoted[i]}" for i in range(1, len(columns)))
    for start in range(0, len(objs), batch_size):
        batch = objs[start : start + batch_size]
        params: list[Any] = []
        rows = []
        for obj in batch:
            values = [pk.get_db_prep_value(obj.pk, connection)]
            for field in concrete:
                values.append(field.get_db_prep_save(getattr(obj, field.attname), connection))  # type: ignore[union-attr]
            params += values
            rows.append("(" + ", ".join(f"%s::{t}" for t in types) + ")")
        sql = (
            f"UPDATE {table} AS t SET {assignments} "
            f"FROM (VALUES {', '.join(rows)}) AS v({', '.join(quoted)}) "
            f"WHERE t.{quoted[0]} = v.{quoted[0]}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
