"""The API's one request parser: JSON that the services and the database can take.

DRF's ``JSONParser`` lets ``RecursionError`` (JSON nested a few thousand levels) escape as a 500 and
hands on NUL characters and lone surrogates that PostgreSQL then refuses mid-write. This one answers
both with a 400 in the error shape, naming the field, before any view code runs.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from config.errors import ValidationFailed
from config.text import storable_errors


class StorableJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
        errors = storable_errors(data)
        if errors:
            raise ValidationFailed(errors[0].message, field=errors[0].field, errors=errors)
        return data
