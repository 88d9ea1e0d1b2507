"""Shared bits of the API views."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request

from config.errors import FieldError, ValidationFailed


def validated(serializer_class: type[serializers.Serializer], request: Request, **kwargs: Any) -> Any:
    """Validate the request body with ``serializer_class``; raise the contract's 400 on bad input."""
    if not isinstance(request.data, dict):
        raise ValidationFailed("The request body must be a JSON object.", field=None)
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer


def reject_unknown_fields(request: Request, allowed: set[str]) -> None:
    """A misspelt field is an error, not silently ignored."""
    if isinstance(request.data, dict):
        unknown = sorted(set(request.data) - allowed)
        if unknown:
            raise ValidationFailed(
                f"Unknown field {unknown[0]!r}.",
                field=unknown[0],
                errors=[FieldError(field=name, message=f"Unknown field {name!r}.") for name in unknown],
            )
