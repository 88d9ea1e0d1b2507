"""API token issue and revocation."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.utils import timezone

from accounts.models import ApiToken, hash_token


def api_token_create(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Create a token for ``user``; return the row and the raw token (shown once, never stored)."""
    raw = ApiToken.generate()
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:10], key_hash=hash_token(raw))
    return token, raw


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
