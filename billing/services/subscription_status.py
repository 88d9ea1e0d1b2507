"""Subscription status changes asked by collection (dunning) and by the end of a period.

Dunning lives in invoicing (it follows unpaid invoices), but a subscription's status is billing's: these
are the writes it asks for, each in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from simple_history.utils import bulk_update_with_history

from billing.models import Subscription, SubscriptionStatus
from billing.services.scheduled_changes import scheduled_changes_drop_for_cancel
from billing.services.subscriptions import PERIOD_END, lock_subscription, subscription_cancel


def subscription_cancel_at_period_end(*, subscription_id: int, user: Any = None) -> Subscription:
    """Cancel at the end of the current period; any change scheduled for the subscription is dropped."""
    with transaction.atomic():
        lock_subscription(subscription_id)  # first the subscription, then its scheduled changes
        scheduled_changes_drop_for_cancel(subscription_id=subscription_id)
        sub, _ = subscription_cancel(subscription_id=subscription_id, at=PERIOD_END, user=user)
    return sub


def subscriptions_past_due_set(*, subscription_ids: Sequence[int], at: datetime) -> int:
    """An invoice of these subscriptions reached dunning's last step: the active ones become past due."""
    subs = list(
        Subscription.objects.select_for_update().filter(
            pk__in=list(subscription_ids), status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING]
        )
    )
    for sub in subs:
        sub.status, sub.past_due_since = SubscriptionStatus.PAST_DUE, at
    return _save_with_history(subs)


def subscriptions_past_due_clear(*, subscription_ids: Sequence[int]) -> int:
    """Nothing is owed any more on these subscriptions: the past-due ones are active again."""
    subs = list(
        Subscription.objects.select_for_update().filter(
            pk__in=list(subscription_ids), status=SubscriptionStatus.PAST_DUE
        )
    )
    for sub in subs:
        sub.status, sub.past_due_since = SubscriptionStatus.ACTIVE, None
    return _save_with_history(subs)


def _save_with_history(subs: list[Subscription]) -> int:
    """One UPDATE and one history row per subscription (support reads on the timeline why it changed):
    an invoice has a handful of subscriptions, so the rows are few."""
    if subs:
        bulk_update_with_history(
            subs, Subscription, ["status", "past_due_since"], default_change_reason="dunning"
        )
    return len(subs)
