"""The one error base of Ratecard: a code, a message and the field it is about.

Services raise these; the API maps them to ``{"errors": [{"field", "message", "code"}]}`` in one place
(``config.api.errors``). Tests import ``ErrorCode`` to assert on codes, not on message wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID = "invalid"
    REQUIRED = "required"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    UNKNOWN_CURRENCY = "unknown_currency"
    UNKNOWN_TIMEZONE = "unknown_timezone"
    NEGATIVE_AMOUNT = "negative_amount"
    TIERS_INVALID = "tiers_invalid"
    CURRENCY_MISMATCH = "currency_mismatch"
    MALFORMED_JSON = "malformed_json"
    IDEMPOTENCY_MISMATCH = "idempotency_key_reused"
    IDEMPOTENCY_IN_FLIGHT = "idempotency_key_in_flight"
    INVALID_STATE = "invalid_state"
    PERMISSION_DENIED = "permission_denied"


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of the input (``field`` may be None for the whole request)."""

    field: str | None
    message: str
    code: ErrorCode = ErrorCode.INVALID


class RatecardError(Exception):
    """Base of every business error. ``status`` is the HTTP status the API answers with."""

    status = 400

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: ErrorCode = ErrorCode.INVALID,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
        self.errors: list[FieldError] = errors or [FieldError(field=field, message=message, code=code)]


class ValidationFailed(RatecardError):
    """Bad input: 400."""

    status = 400


class NotFound(RatecardError):
    """Unknown object: 404."""

    status = 404

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field, code=ErrorCode.NOT_FOUND)


class Conflict(RatecardError):
    """The object is in a state that does not allow the operation: 409."""

    status = 409

    def __init__(
        self, message: str, *, field: str | None = None, code: ErrorCode = ErrorCode.CONFLICT
    ) -> None:
        super().__init__(message, field=field, code=code)
