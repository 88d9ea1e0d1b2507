"""Bearer-token authentication for the API (``Authorization: Bearer <token>``)."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.access import STAMP_PK, access_mirror, attach_permissions, forget_permissions
from accounts.models import AccessStamp, ApiToken, hash_token
from config.shared_redis import shared_redis

LAST_USED_RESOLUTION = timedelta(minutes=1)
TOKEN_SQL = (
    "SELECT t.id, t.user_id, t.last_used_at,"
    f" (SELECT version FROM {AccessStamp._meta.db_table} WHERE id = %s)"
    f" FROM {ApiToken._meta.db_table} t JOIN {User._meta.db_table} u ON u.id = t.user_id"
    " WHERE t.key_hash = %s AND t.revoked_at IS NULL AND u.is_active"
)

# user id -> (the access stamp's version it was read under, the user row): every change to a user moves
# the stamp (accounts.access), so the row is reused only while the version is unchanged
_users: dict[int, tuple[int, Any]] = {}


def _user(user_id: int, version: int | None) -> Any:
    """The token's user: a copy of this process's row while the stamp is unchanged, else read now."""
    cached = _users.get(user_id)
    if version is not None and cached is not None and cached[0] == version:
        return copy.copy(cached[1])  # a copy per request: a request may set attributes on its user
    user = User.objects.get(pk=user_id)
    if version is not None:
        _users[user_id] = (version, user)
        return copy.copy(user)
    return user


def forget_tokens() -> None:
    """Drop this process's cached users and permissions (between tests; changes move the stamp)."""
    _users.clear()
    _fast.clear()
    forget_permissions()


@dataclass(frozen=True)
class FastAuth:
    """A token checked in the database under access ``version``: trusted without a query while the
    Redis mirror of the stamp shows that version, for at most ``FAST_AUTH_SECONDS``."""

    user_id: int
    version: int
    permissions: frozenset[str]
    is_superuser: bool
    last_used_at: datetime | None
    expires: float

    def may(self, permission: str) -> bool:
        return self.is_superuser or permission in self.permissions


FAST_AUTH_SECONDS = 10.0
_fast: dict[str, FastAuth] = {}


def _remember(key_hash: str, user: Any, token: ApiToken, version: int | None) -> None:
    client = shared_redis()
    if version is None or client is None:
        return
    if len(_fast) > 10_000:
        _fast.clear()
    known = _fast.get(key_hash)
    if known is None or known.version != version:
        # after a Redis restart the mirror starts again from the database's version
        access_mirror(version)
    _fast[key_hash] = FastAuth(
        user_id=user.pk,
        version=version,
        permissions=frozenset() if user.is_superuser else frozenset(user.get_all_permissions()),
        is_superuser=bool(user.is_superuser),
        last_used_at=token.last_used_at,
        expires=time.monotonic() + FAST_AUTH_SECONDS,
    )


def fast_auth(raw_token: str) -> tuple[str, FastAuth] | None:
    """The token's fast-path entry (its hash and what it may do), or None: check it in the database.

    The caller must compare ``entry.version`` with the Redis mirror (``access_key()``), in the round trip
    it makes anyway, before trusting it.
    """
    key_hash = hash_token(raw_token)
    entry = _fast.get(key_hash)
    if entry is None or entry.expires < time.monotonic():
        return None
    if entry.last_used_at is None or timezone.now() - entry.last_used_at > LAST_USED_RESOLUTION:
        return None  # the database path records the use (once a minute)
    return key_hash, entry


def fast_auth_forget(key_hash: str) -> None:
    """Drop a token's fast-path entry: its next request is checked in the database, which also writes the
    access stamp's Redis mirror again (``_remember``) if it went missing (Redis restarted or flushed)."""
    _fast.pop(key_hash, None)


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
        # stamp, so a revocation, a deactivation or a role change is seen by the very next request. Raw
        # SQL: this runs on every API call (the entitlement check's hot path), the ORM's compile is not free.
        with connection.cursor() as cursor:
            key_hash = hash_token(parts[1])
            cursor.execute(TOKEN_SQL, [STAMP_PK, key_hash])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        token_id, user_id, last_used_at, version = row
        user = _user(user_id, version)
        token = ApiToken(pk=token_id, user_id=user_id, last_used_at=last_used_at)
        attach_permissions(user, version)
        now = timezone.now()
        # at most one write a minute per token: a commit per request would cap the API's rate
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        _remember(key_hash, user, token, version)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
