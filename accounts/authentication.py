"""Bearer-token authentication for the API (``Authorization: Bearer <token>``)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import ApiToken, hash_token

LAST_USED_RESOLUTION = timedelta(minutes=1)
# A checked token (with its user and the user's permission cache) is reused for this many seconds in
# this process: the token, user and permission queries would otherwise be most of a fast request.
# Revoking a token or changing a role takes effect within this time everywhere (at once in this process).
TOKEN_CACHE_SECONDS = 10.0

_tokens: dict[str, tuple[ApiToken, float]] = {}


def forget_tokens() -> None:
    """Drop this process's checked tokens (after a revocation, and between tests)."""
    _tokens.clear()


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        key_hash = hash_token(parts[1])
        cached = _tokens.get(key_hash)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0].user, cached[0]
        token = (
            ApiToken.objects.select_related("user").filter(key_hash=key_hash, revoked_at__isnull=True).first()
        )
        if token is None or not token.user.is_active:
            _tokens.pop(key_hash, None)
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        _tokens[key_hash] = (token, time.monotonic() + TOKEN_CACHE_SECONDS)
        now = timezone.now()
        # at most one write a minute per token: a commit per request would cap the API's rate
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
