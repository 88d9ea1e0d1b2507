"""Who may do what, effective on the next request: the access stamp and the permission cache.

A request authenticated by token reads the token, its user and the access stamp's version in one query
(accounts.authentication), so a revoked token or a deactivated user is refused at once. The user's
permissions (two queries through Django's ModelBackend) are reused in this process only while the stamp
is unchanged; every change to a user, a group's members or a group's permissions moves the stamp in the
same transaction as the change, so the next request anywhere recomputes them.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from django.contrib.auth.models import Group, Permission, User
from django.db import connection, transaction
from django.db.models import F
from django.db.models.signals import m2m_changed, post_delete, post_save

from accounts.models import AccessStamp, ApiToken
from config.shared_redis import shared_redis

STAMP_PK = 1

# user id -> (the stamp's version it was computed under, that user's permission set)
_perms: dict[int, tuple[int, set[str]]] = {}


def access_changed(**_kwargs: Any) -> None:
    """Move the access stamp (in the caller's transaction: a rolled-back change moves nothing), and its
    Redis mirror once the change commits."""
    if not AccessStamp.objects.filter(pk=STAMP_PK).update(version=F("version") + 1):
        # the row is gone (a flushed test database): a fresh value no process has cached under
        AccessStamp.objects.update_or_create(pk=STAMP_PK, defaults={"version": time.time_ns()})
    version = AccessStamp.objects.filter(pk=STAMP_PK).values_list("version", flat=True).first()
    if version is not None:
        transaction.on_commit(lambda: access_mirror(version))


# --- the Redis mirror: the token fast path checks the stamp without a database round trip ------------
# The mirror only ever grows (a Lua max), so two changes committing in one order and mirroring in the
# other leave the newer version; a process trusts a token it checked in the database only while the
# mirror still shows the version of that check (and for at most FAST_AUTH_SECONDS, in case a mirror
# write was lost while Redis was away).
def access_key() -> str:
    """The mirror's key, per database: test, bench and production databases may share one Redis."""
    return f"rc:access:v:{connection.settings_dict['NAME']}"


_MAX_SET = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""


def access_mirror(version: int) -> None:
    """Raise the Redis mirror of the access stamp to ``version`` (never lowers it); quiet without Redis."""
    client = shared_redis()
    if client is None:
        return
    try:
        client.eval(_MAX_SET, 1, access_key(), str(version))
    except Exception:  # Redis away: fast-path entries expire after FAST_AUTH_SECONDS
        structlog.get_logger(__name__).warning("access.mirror_not_moved", version=version)


def forget_permissions() -> None:
    """Drop this process's cached permissions."""
    _perms.clear()


def attach_permissions(user: User, version: int | None) -> None:
    """Give ``user`` its permission set for ``version``, computing it only on a miss.

    ModelBackend keeps a user's permissions on the instance (``_perm_cache``); the instance is new on
    every request, so filling that from the cache saves the two permission queries.
    """
    if version is None or user.is_superuser:
        return  # no stamp (a flushed database): compute per request; a superuser needs none
    cached = _perms.get(user.pk)
    if cached is not None and cached[0] == version:
        user._perm_cache = cached[1]  # type: ignore[attr-defined]
        return
    # stored under the version read before computing: a change committed meanwhile moved the stamp,
    # so the next request misses and recomputes rather than trusting what was read here
    _perms[user.pk] = (version, set(user.get_all_permissions()))


def _user_saved(update_fields: frozenset[str] | None = None, **kwargs: Any) -> None:
    if update_fields is not None and set(update_fields) <= {"last_login", "password"}:
        return  # a login or a password change changes nothing anyone may do
    access_changed()


def _membership_changed(action: str, **kwargs: Any) -> None:
    if action in {"post_add", "post_remove", "post_clear"}:
        access_changed()


def connect_signals() -> None:
    uid = "accounts.access"
    for through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(_membership_changed, sender=through, dispatch_uid=f"{uid}.{through.__name__}")
    post_save.connect(_user_saved, sender=User, dispatch_uid=f"{uid}.user_saved")
    # a token saved (revoked in the admin) or deleted: fast-path entries of every process are checked again
    post_save.connect(access_changed, sender=ApiToken, dispatch_uid=f"{uid}.token_saved")
    for model in (User, Group, Permission, ApiToken):
        post_delete.connect(access_changed, sender=model, dispatch_uid=f"{uid}.{model.__name__}_deleted")
