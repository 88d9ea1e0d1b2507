"""OpenAPI post-processing: every operation documents the API's error answers and their one shape.

Views state their success responses; the errors are the same everywhere (config.api.errors), so they
are added here once instead of on every ``extend_schema``. A client (and schemathesis'
``status_code_conformance``) can then rely on the schema for every status the API answers with.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The API's one error shape; `field` names the input at fault (null: the request).",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["field", "message", "code"],
                "properties": {
                    "field": {"type": "string", "nullable": True, "example": "events[3].timestamp"},
                    "message": {"type": "string"},
                    "code": {"type": "string", "example": "invalid"},
                },
            },
        }
    },
}

READ_ERRORS = {
    400: "Bad input (a query parameter), naming the field.",
    401: "No valid token.",
    403: "The role does not allow this.",
    404: "No such object (or path).",
}
WRITE_ERRORS = {
    **READ_ERRORS,
    400: "Bad input, naming the field; nothing was written.",
    409: "The object's state does not allow this, or the Idempotency-Key is still in flight.",
    413: "The request body is larger than 5 MB.",
    415: "The request body is not JSON.",
    422: "The Idempotency-Key was used with another request.",
}


# operations with a rate limit (billing/api/throttles.py): their 429 carries a Retry-After header
RATE_LIMITED = {("/api/v1/events", "post")}
TOO_MANY = {
    "description": "Too many requests for this token: retry after `Retry-After` seconds; nothing was written.",
    "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular ``POSTPROCESSING_HOOKS`` entry: add the error responses to every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = READ_ERRORS if method in ("get", "head") else WRITE_ERRORS
            for status, description in errors.items():
                operation["responses"].setdefault(
                    str(status), {"description": description, "content": reference}
                )
            if (path.rstrip("/"), method) in RATE_LIMITED:
                operation["responses"].setdefault("429", {**TOO_MANY, "content": reference})
    return result
