"""Apply scheduled changes and cancels when a billing run reaches them (API.md: never a catch-up).

A change or cancel asked for a time ``T`` after the subscription's current period waits as a
``ScheduledChange`` (billing.services.scheduled_changes). The billing run whose ``as_of`` reaches ``T``
bills the subscription up to ``T`` (the boundaries a run at ``T`` would bill), applies the change at ``T``
exactly as an immediate change or cancel at ``T`` does (same prorations, same final invoice), then bills on
to ``as_of``. Billing never passes a waiting change (``compute_billing`` stops at it), so a subscription
whose change fails here is billed up to ``T`` and no further until a later run applies it.
"""

from __future__ import annotations

from datetime import datetime
from itertools import groupby

import structlog
from django.db import transaction

from billing.models import (
    ScheduledChange,
    ScheduledChangeKind,
    ScheduledChangeStatus,
    Subscription,
    SubscriptionChange,
)
from billing.services.scheduled_changes import scheduled_change_resolve, scheduled_changes_due
from billing.services.subscriptions import LIVE_STATUSES, lock_subscription
from invoicing.models import BillingRun, Invoice
from invoicing.services.subscription_billing import BillResult, bill_subscriptions
from invoicing.services.subscription_invoicing import subscription_cancel_now, subscription_change_now

log = structlog.get_logger(__name__)


def merge_results(first: BillResult, second: BillResult) -> BillResult:
    """One result for a chunk billed in two steps (scheduled changes first, then the rest)."""
    return BillResult(
        billed_subscriptions=first.billed_subscriptions + second.billed_subscriptions,
        invoice_ids=first.invoice_ids | second.invoice_ids,
        created_invoice_ids=first.created_invoice_ids | second.created_invoice_ids,
        failures=first.failures + second.failures,
    )


def subscriptions_apply_scheduled(
    *, subscription_ids: list[int], as_of: datetime, run: BillingRun | None = None
) -> BillResult:
    """Bill and apply every waiting change of these subscriptions reached by ``as_of``; bill on to ``as_of``.

    Call inside ``transaction.atomic``. Each subscription gets its own savepoint: one that fails is
    reported in ``failures`` and left as it was; the others are applied.
    """
    result = BillResult()
    due = scheduled_changes_due(subscription_ids=subscription_ids, as_of=as_of)
    for sub_id, changes in groupby(due, key=lambda c: c.subscription_id):
        try:
            with transaction.atomic():
                result = merge_results(
                    result, _apply_for(sub_id=sub_id, changes=list(changes), as_of=as_of, run=run)
                )
        except Exception as exc:  # one subscription's failure must not stop the others
            customer_id = Subscription.objects.filter(pk=sub_id).values_list("customer_id", flat=True).first()
            error = f"{exc.__class__.__name__}: {exc}"
            log.warning("billing.scheduled_change_failed", subscription_id=sub_id, error=error)
            result.failures.append((sub_id, customer_id or 0, error))
    return result


def _apply_for(
    *, sub_id: int, changes: list[ScheduledChange], as_of: datetime, run: BillingRun | None
) -> BillResult:
    result = BillResult()
    for waiting in changes:
        lock_subscription(sub_id)  # first the subscription, then its change: the order every writer takes
        scheduled = (
            ScheduledChange.objects.select_for_update(of=("self",))
            .select_related("new_plan_version")
            .get(pk=waiting.pk)
        )
        if scheduled.status != ScheduledChangeStatus.SCHEDULED:
            continue  # applied or dropped by a concurrent writer since it was read
        at = scheduled.effective_at
        result = merge_results(
            result, bill_subscriptions(subs=[lock_subscription(sub_id)], as_of=at, run=run)
        )
        invoice = _apply_one(scheduled=scheduled, sub=lock_subscription(sub_id))
        if invoice is not None:
            result.invoice_ids.add(invoice.pk)
            result.created_invoice_ids.add(invoice.pk)
    sub = lock_subscription(sub_id)
    if sub.status in LIVE_STATUSES:
        result = merge_results(result, bill_subscriptions(subs=[sub], as_of=as_of, run=run))
    result.billed_subscriptions = 1  # once, however many steps it took
    return result


def _apply_one(*, scheduled: ScheduledChange, sub: Subscription) -> Invoice | None:
    """Apply one waiting change at its time, as the immediate change or cancel would; record the outcome."""
    at = scheduled.effective_at
    if sub.status not in LIVE_STATUSES:
        scheduled_change_resolve(
            scheduled=scheduled, status=ScheduledChangeStatus.CANCELED, note="the subscription ended first"
        )
        return None
    if scheduled.kind == ScheduledChangeKind.CANCEL:
        _, invoice = subscription_cancel_now(subscription_id=sub.pk, at=at, user=scheduled.created_by)
    else:
        version = scheduled.new_plan_version or sub.plan_version
        quantity = sub.quantity if scheduled.new_quantity is None else scheduled.new_quantity
        if version.pk == sub.plan_version_id and quantity == sub.quantity:
            scheduled_change_resolve(
                scheduled=scheduled, status=ScheduledChangeStatus.APPLIED, note="nothing left to change"
            )
            return None
        _, invoice = subscription_change_now(
            subscription_id=sub.pk,
            at=at,
            proration=scheduled.proration,
            plan_version=version,
            quantity=quantity,
            user=scheduled.created_by,
        )
    made = SubscriptionChange.objects.filter(subscription_id=sub.pk).latest("id")
    scheduled_change_resolve(scheduled=scheduled, status=ScheduledChangeStatus.APPLIED, applied_change=made)
    log.info("subscription.scheduled_change_applied", subscription_id=sub.pk, kind=scheduled.kind, at=at)
    return invoice
