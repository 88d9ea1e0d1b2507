"""Scheduled changes: a change or cancel asked for a time after the subscription's current period.

API.md: a change or cancel ``at`` a future time is scheduled and applied when billing reaches it; it never
bills a period that has not ended. "Future" is in business terms: ``at`` on or after the end of the
subscription's current period (never the wall clock). This module keeps the state (billing's side);
invoicing.services.scheduled_changes bills up to ``effective_at`` and applies them in a billing run.

Rules: at most one waiting change and one waiting cancel per subscription; a new one of the same kind
replaces the old (kept as ``canceled`` with a note). A cancel of any kind drops the waiting change; a
change cannot be scheduled at or after a cancel that is waiting (409).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Min, QuerySet

from billing.models import (
    ProrationBehavior,
    ScheduledChange,
    ScheduledChangeKind,
    ScheduledChangeStatus,
    Subscription,
    SubscriptionChange,
)
from billing.services.subscriptions import LIVE_STATUSES, check_quantity, lock_subscription, newest_version
from config.errors import Conflict, ErrorCode, ValidationFailed

WAITING = ScheduledChangeStatus.SCHEDULED


def is_after_current_period(sub: Subscription, at: datetime) -> bool:
    """True when ``at`` falls on or after the end of the current period: a change there is scheduled."""
    if at.tzinfo is None:
        raise ValidationFailed("at must carry a UTC offset.", field="at")
    return at >= sub.current_period_end


def _by(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


def _drop(sub: Subscription, kinds: Iterable[str], note: str) -> int:
    return ScheduledChange.objects.filter(subscription=sub, kind__in=list(kinds), status=WAITING).update(
        status=ScheduledChangeStatus.CANCELED, note=note[:255]
    )


def scheduled_change_create(
    *,
    subscription_id: int,
    at: datetime,
    proration: str = ProrationBehavior.CREATE_PRORATIONS,
    plan_code: str | None = None,
    quantity: Decimal | None = None,
    user: Any = None,
) -> ScheduledChange:
    """Schedule a plan and/or seat change at ``at`` (after the current period); it replaces a waiting one.

    The plan version is resolved now (the newest one sold today), so what is applied later is what was
    asked for, even if a newer version appears in between.
    """
    if proration not in ProrationBehavior.values:
        raise ValidationFailed("Must be create_prorations, always_invoice or none.", field="proration")
    if plan_code is None and quantity is None:
        raise ValidationFailed("Give a new plan, a new quantity, or both.", field="plan")
    if quantity is not None:
        check_quantity(quantity)
    with transaction.atomic():
        sub = lock_subscription(subscription_id)
        _check_schedulable(sub, at)
        version = newest_version(plan_code) if plan_code else None
        if version is not None and version.currency != sub.currency:
            raise ValidationFailed(
                f"Plan {plan_code!r} is priced in {version.currency}; the subscription is in {sub.currency}.",
                field="plan",
                code=ErrorCode.CURRENCY_MISMATCH,
            )
        cancel = ScheduledChange.objects.filter(
            subscription=sub, kind=ScheduledChangeKind.CANCEL, status=WAITING
        ).first()
        ends_at = cancel.effective_at if cancel else sub.cancel_at if sub.cancel_at_period_end else None
        if ends_at is not None and at >= ends_at:
            raise Conflict(
                f"Subscription {sub.pk} is set to cancel at {ends_at.isoformat()}; it cannot change after that.",
                field="at",
                code=ErrorCode.INVALID_STATE,
            )
        _drop(sub, [ScheduledChangeKind.CHANGE], f"replaced by a change scheduled at {at.isoformat()}")
        return ScheduledChange.objects.create(
            subscription=sub,
            kind=ScheduledChangeKind.CHANGE,
            effective_at=at,
            new_plan_version=version,
            new_quantity=quantity,
            proration=proration,
            created_by=_by(user),
        )


def scheduled_cancel_create(*, subscription_id: int, at: datetime, user: Any = None) -> ScheduledChange:
    """Schedule a cancel at ``at`` (after the current period); it drops any waiting change or cancel."""
    with transaction.atomic():
        sub = lock_subscription(subscription_id)
        _check_schedulable(sub, at)
        if sub.cancel_at_period_end:
            raise Conflict(
                f"Subscription {sub.pk} ends at its period's end already.",
                field="at",
                code=ErrorCode.INVALID_STATE,
            )
        _drop(sub, ScheduledChangeKind.values, f"replaced by a cancel scheduled at {at.isoformat()}")
        scheduled = ScheduledChange.objects.create(
            subscription=sub,
            kind=ScheduledChangeKind.CANCEL,
            effective_at=at,
            proration=ProrationBehavior.CREATE_PRORATIONS,
            created_by=_by(user),
        )
        sub.cancel_at = at
        sub.save(update_fields=["cancel_at", "updated_at"])
        return scheduled


def scheduled_changes_drop_for_cancel(*, subscription_id: int) -> int:
    """A cancel (now or at period end) drops what was scheduled after it. Call with the row locked."""
    sub = Subscription(pk=subscription_id)
    return _drop(sub, ScheduledChangeKind.values, "dropped: the subscription was canceled")


def _check_schedulable(sub: Subscription, at: datetime) -> None:
    if sub.status not in LIVE_STATUSES:
        raise Conflict(
            f"Subscription {sub.pk} is {sub.status}; it cannot change.", code=ErrorCode.INVALID_STATE
        )
    if at.tzinfo is None:
        raise ValidationFailed("at must carry a UTC offset.", field="at")
    if not is_after_current_period(sub, at):
        raise ValidationFailed("at must fall after the current period to be scheduled.", field="at")


def scheduled_changes_due(*, subscription_ids: list[int], as_of: datetime) -> list[ScheduledChange]:
    """Waiting changes of these subscriptions that a run at ``as_of`` reaches, in the order to apply them."""
    return list(
        ScheduledChange.objects.select_related("new_plan_version", "new_plan_version__plan")
        .filter(subscription_id__in=subscription_ids, status=WAITING, effective_at__lte=as_of)
        .order_by("subscription_id", "effective_at", "kind", "id")
    )


def subscriptions_with_due_changes(as_of: datetime) -> QuerySet[ScheduledChange, int]:
    """Ids of subscriptions with a waiting change reached by ``as_of`` (due for a billing run)."""
    return (
        ScheduledChange.objects.filter(status=WAITING, effective_at__lte=as_of)
        .values_list("subscription_id", flat=True)
        .distinct()
    )


def billing_horizons(subscription_ids: list[int]) -> dict[int, datetime]:
    """How far billing may go for each subscription before a waiting change must be applied first."""
    rows = (
        ScheduledChange.objects.filter(subscription_id__in=subscription_ids, status=WAITING)
        .values("subscription_id")
        .annotate(first=Min("effective_at"))
    )
    return {row["subscription_id"]: row["first"] for row in rows}


def scheduled_change_resolve(
    *,
    scheduled: ScheduledChange,
    status: str,
    applied_change: SubscriptionChange | None = None,
    note: str = "",
) -> None:
    """Record what became of a waiting change: applied (with the change it made) or canceled (why)."""
    scheduled.status = status
    scheduled.applied_change = applied_change
    scheduled.note = note[:255]
    scheduled.save(update_fields=["status", "applied_change", "note"])
