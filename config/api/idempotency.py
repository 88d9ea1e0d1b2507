"""``Idempotency-Key`` for API writes (API.md): scoped to the user, kept 24 hours.

- First request with a key: an in-flight record is committed at once (so a concurrent twin sees it and
  gets 409), then the write runs in ``transaction.atomic()`` and the response is stored in that same
  transaction. If the write raises, the in-flight record is removed so the client may retry.
- Same key, same body: the stored response is replayed. Same key, other body: 422.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import IdempotencyRecord
from config.api.errors import error_response
from config.errors import ErrorCode, FieldError

HEADER = "Idempotency-Key"
# An in-flight record older than this belongs to a request that died; it may be taken over.
STALE_IN_FLIGHT = timedelta(minutes=5)


def _body_hash(request: Request) -> str:
    payload = json.dumps(request.data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{payload}".encode()).hexdigest()


def _claim(request: Request, key: str, body_hash: str) -> IdempotencyRecord | Response:
    """Insert the in-flight record, or answer from the existing one."""
    user: Any = request.user
    ttl = timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)
    now = timezone.now()
    IdempotencyRecord.objects.filter(user=user, key=key, created_at__lt=now - ttl).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                user=user, key=key, method=request.method or "", path=request.path, request_hash=body_hash
            )
    except IntegrityError:
        pass
    existing = IdempotencyRecord.objects.get(user=user, key=key)
    if existing.request_hash != body_hash:
        return error_response(
            [
                FieldError(
                    field=None,
                    message=f"{HEADER} {key!r} was already used with a different request.",
                    code=ErrorCode.IDEMPOTENCY_MISMATCH,
                )
            ],
            422,
        )
    if existing.state == IdempotencyRecord.State.DONE:
        response = Response(existing.response_body, status=existing.response_status)
        response["Idempotent-Replayed"] = "true"
        return response
    if existing.created_at < now - STALE_IN_FLIGHT:
        return existing
    return error_response(
        [
            FieldError(
                field=None,
                message=f"A request with {HEADER} {key!r} is still being processed.",
                code=ErrorCode.IDEMPOTENCY_IN_FLIGHT,
            )
        ],
        409,
    )


class _RollBack(Exception):
    """Carries a 4xx answer out of the atomic block so the write is undone but the answer is kept."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def _store(record_id: int, response: Response) -> None:
    IdempotencyRecord.objects.filter(pk=record_id).update(
        state=IdempotencyRecord.State.DONE,
        response_status=response.status_code,
        response_body=json.loads(json.dumps(response.data, default=str)),
    )


def idempotent_write(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Wrap a DRF view method: atomic write, and the Idempotency-Key contract when the header is sent."""

    @wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if not key:
            with transaction.atomic():
                return handler(view, request, *args, **kwargs)
        if len(key) > 255:
            return error_response(
                [FieldError(field=None, message=f"{HEADER} is longer than 255 characters.")], 400
            )
        claimed = _claim(request, key, _body_hash(request))
        if isinstance(claimed, Response):
            return claimed
        try:
            with transaction.atomic():
                try:
                    response = handler(view, request, *args, **kwargs)
                except Exception as exc:
                    # re-raises what is not a known error (a 500); 4xx business errors become answers
                    raise _RollBack(view.handle_exception(exc)) from exc
                if response.status_code >= 400:
                    raise _RollBack(response)
                _store(claimed.pk, response)
        except _RollBack as rollback:
            response = rollback.response
            if response.status_code >= 500:
                IdempotencyRecord.objects.filter(pk=claimed.pk).delete()
            else:
                _store(claimed.pk, response)  # like Stripe, a 4xx answer is replayed too
            return response
        except Exception:
            IdempotencyRecord.objects.filter(pk=claimed.pk).delete()
            raise
        return response

    return wrapper
