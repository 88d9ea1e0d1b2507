"""Pending lines (prorations, one-off charges) as invoicing takes them: locked, then marked invoiced.

A pending line is billing's record of something owed outside the period fees; invoicing copies it onto
an invoice line and asks billing to mark it ``invoiced_at`` in the same transaction, so it is billed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db.models import Q

from billing.models import PendingLine, Subscription, SubscriptionChange
from billing.services.subscriptions import LIVE_STATUSES


def pending_lines_lock_for_invoice_now(*, subscription: Subscription, final: bool) -> list[PendingLine]:
    """Lock the subscription's pending lines to invoice now: those marked ``invoice_now``, or (``final``,
    a cancellation) all of them, and the customer's one-off charges when no other live subscription is
    left to carry them."""
    wanted = Q(subscription=subscription) if final else Q(subscription=subscription, invoice_now=True)
    others = Subscription.objects.filter(
        customer_id=subscription.customer_id, status__in=LIVE_STATUSES
    ).exclude(pk=subscription.pk)
    if final and not others.exists():
        wanted |= Q(customer_id=subscription.customer_id, subscription__isnull=True)
    return list(
        PendingLine.objects.select_for_update().filter(wanted, invoiced_at__isnull=True).order_by("id")
    )


def pending_lines_invoice_now_exist(*, change: SubscriptionChange) -> bool:
    """True when the change left pending lines (prorations) to invoice at once."""
    return PendingLine.objects.filter(change=change, invoice_now=True, invoiced_at__isnull=True).exists()


def pending_lines_mark_invoiced(*, pending_line_ids: Sequence[int], at: datetime) -> None:
    """Mark these pending lines invoiced at ``at`` (invoicing put them on an invoice in this transaction)."""
    if pending_line_ids:
        PendingLine.objects.filter(pk__in=list(pending_line_ids)).update(invoiced_at=at)
