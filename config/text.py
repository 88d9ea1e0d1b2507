"""Input the database can store: no NUL characters, no lone surrogates, finite numbers, sane nesting.

PostgreSQL refuses NUL (``\\x00``) in ``text`` and ``jsonb`` and psycopg cannot encode a lone UTF-16
surrogate (``"\\ud800"`` in JSON decodes to one), so either reaching a query is a 500 after the fact;
``1e999`` decodes to an infinite float that ``jsonb`` refuses the same way.
Input is checked here, at the edge, and refused with a 400 naming the field. The walk is iterative so a
deeply nested document cannot exhaust the stack, and refuses nesting deeper than ``MAX_DEPTH``.
"""

from __future__ import annotations

import math
from typing import Any

from config.errors import FieldError

# Far deeper than any request of the API (a plan's tier is 4 levels down), far from Python's recursion
# limit, which serializers, json.dumps and msgspec.convert would otherwise hit on the way.
MAX_DEPTH = 32


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None."""
    if "\x00" in text:
        return "Must not contain NUL (\\u0000) characters."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Must be valid Unicode (it contains a lone UTF-16 surrogate)."
    return None


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def storable_errors(data: Any, *, prefix: str = "") -> list[FieldError]:
    """Every field of a decoded JSON document whose key or value cannot be stored."""
    errors: list[FieldError] = []
    stack: list[tuple[str, Any, int]] = [(prefix, data, 0)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                errors.append(FieldError(path or None, problem))
            continue
        if isinstance(value, float) and not math.isfinite(value):
            errors.append(FieldError(path or None, "Must be a finite number."))
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= MAX_DEPTH:
            errors.append(FieldError(path or None, f"Nested more than {MAX_DEPTH} levels deep."))
            continue
        if isinstance(value, list):
            children = [(_child_path(path, i), item, depth + 1) for i, item in enumerate(value)]
            stack.extend(reversed(children))  # popped in document order
            continue
        members: list[tuple[str, Any, int]] = []
        for key, item in value.items():
            problem = text_problem(key) if isinstance(key, str) else None
            # a bad key cannot be echoed as a path: name the object that holds it
            if problem:
                errors.append(FieldError(path or None, f"A property name is not allowed: {problem}"))
                continue
            members.append((_child_path(path, key), item, depth + 1))
        stack.extend(reversed(members))
    return errors
