"""The API's one error shape: ``{"errors": [{"field": "events[3].timestamp", "message": "...", "code": "..."}]}``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import ErrorCode, FieldError, RatecardError


def flatten_errors(detail: Any, prefix: str = "") -> list[FieldError]:
    """Turn DRF's nested error detail into one ``FieldError`` per message, with a dotted/indexed path."""
    out: list[FieldError] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                out.extend(flatten_errors(value, prefix))
                continue
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                path = f"{prefix}[{key}]"  # DRF reports list items by index
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out.extend(flatten_errors(value, path))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            for item in detail:
                code = getattr(item, "code", None) or ErrorCode.INVALID
                out.append(FieldError(field=prefix or None, message=str(item), code=_code(code)))
        else:
            for index, item in enumerate(detail):
                if item in ({}, [], None):
                    continue
                out.extend(flatten_errors(item, f"{prefix}[{index}]"))
    else:
        code = getattr(detail, "code", None) or ErrorCode.INVALID
        out.append(FieldError(field=prefix or None, message=str(detail), code=_code(code)))
    return out


def _code(raw: str) -> ErrorCode:
    try:
        return ErrorCode(raw)
    except ValueError:
        return ErrorCode.INVALID


def error_response(errors: list[FieldError], status_code: int) -> Response:
    body = {"errors": [{"field": e.field, "message": e.message, "code": str(e.code)} for e in errors]}
    return Response(body, status=status_code)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map every error to the contract's shape; unknown exceptions stay 500s (they are bugs)."""
    if isinstance(exc, RatecardError):
        return error_response(exc.errors, exc.status)
    if isinstance(exc, exceptions.ParseError):
        return error_response(
            [
                FieldError(
                    field=None, message=f"Malformed request body: {exc.detail}", code=ErrorCode.MALFORMED_JSON
                )
            ],
            status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.ValidationError):
        return error_response(flatten_errors(exc.detail), status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response.data = {"errors": [{"field": None, "message": str(message), "code": exc.get_codes()}]}
    return response
