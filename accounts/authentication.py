"""Bearer-token authentication for the API (``Authorization: Bearer <token>``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Subquery
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.access import STAMP_PK, attach_permissions, forget_permissions
from accounts.models import AccessStamp, ApiToken, hash_token

LAST_USED_RESOLUTION = timedelta(minutes=1)


def forget_tokens() -> None:
    """Drop this process's cached permissions (between tests; changes move the stamp themselves)."""
    forget_permissions()


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
        # One indexed query, every request: the token (not revoked), its user (active) and the access
        # stamp, so a revocation, a deactivation or a role change is seen by the very next request.
        token = (
            ApiToken.objects.select_related("user")
            .annotate(access_version=Subquery(AccessStamp.objects.filter(pk=STAMP_PK).values("version")))
            .filter(key_hash=hash_token(parts[1]), revoked_at__isnull=True, user__is_active=True)
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        attach_permissions(token.user, token.access_version)  # type: ignore[attr-defined]
        now = timezone.now()
        # at most one write a minute per token: a commit per request would cap the API's rate
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
