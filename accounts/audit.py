"""Who did it, for the audit trail (django-simple-history): the request's user, or the system actor.

Billing runs, Celery tasks and management commands have no request; their history rows name the
``ratecard-system`` user (inactive: it never logs in, no token of it authenticates) and say why in
``history_change_reason``. Bulk writes bypass simple-history's signals, so the services that write in
bulk record their history with ``record_bulk_history`` in one more statement per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.db import models
from simple_history.models import HistoricalRecords

SYSTEM_ACTOR = "ratecard-system"

# The system actor's row, once read (it is created by accounts' migration 0003 and never deleted).
_memo: dict[str, User] = {}


def forget_system_actor() -> None:
    """Between tests: a test database's rows come and go."""
    _memo.clear()


def system_actor() -> User:
    user = _memo.get("user")
    if user is not None:
        return user
    user = User.objects.filter(username=SYSTEM_ACTOR).first()
    if user is None:
        # missing (a flushed test database): made here but not remembered, as the caller may roll back
        user, _ = User.objects.get_or_create(
            username=SYSTEM_ACTOR, defaults={"is_active": False, "first_name": "Ratecard system"}
        )
        return user
    _memo["user"] = user
    return user


def request_user() -> Any:
    """The authenticated user of the request being served in this thread, if any."""
    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def history_user(instance: Any = None, request: Any = None, **_kwargs: Any) -> Any:
    """simple-history's ``get_user``: the request's user, else the system actor."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    return request_user() or system_actor()


def record_bulk_history(
    objs: Sequence[models.Model], *, update: bool, reason: str = "", actor: Any = None
) -> None:
    """History rows for objects written in bulk (created, or ``update``d), in one INSERT per 1,000."""
    if not objs:
        return
    manager = type(objs[0]).history  # type: ignore[attr-defined]
    who = actor or request_user() or system_actor()
    manager.bulk_history_create(
        objs, batch_size=1000, update=update, default_user=who, default_change_reason=reason
    )
