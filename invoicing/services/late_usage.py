"""Late usage lands on the draft it belongs to at once (DESIGN.md: within the grace window the period's
invoice stays draft and late events update it; finance reviews the draft meanwhile).

``billing`` tells us after commit which (customer, event time) pairs its usage changed
(``billing.services.usage_hooks``, registered in ``invoicing.apps``). A draft holds the usage of periods
that ended by its billing date, so an event is for a draft of its customer when it is older than the
draft's billing date. Those drafts are re-rated by a task (eager: before the 202 returns; with
workers: within a second). Events of the current period, nearly all of them, touch no draft and cost
one indexed query per batch. A finalized invoice is never touched: the next billing run turns what
changed into ``adjustment`` lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog
from django.db import transaction

from billing.services.usage_hooks import UsageTouch
from config.tasks_queue import task_enqueue
from invoicing.models import Invoice, InvoiceStatus

log = structlog.get_logger(__name__)


def drafts_for_usage(*, touches: Sequence[UsageTouch]) -> list[int]:
    """The drafts whose usage these events may change (ids, ascending)."""
    customer_ids = {touch.customer_id for touch in touches}
    drafts = list(
        Invoice.objects.filter(status=InvoiceStatus.DRAFT, customer_id__in=customer_ids)
        .order_by()
        .values_list("id", "customer_id", "billing_date")
    )
    if not drafts:
        return []
    with_drafts = {customer_id for _, customer_id, _ in drafts}
    earliest: dict[int, datetime] = {}
    for touch in touches:
        if touch.customer_id in with_drafts:
            seen = earliest.get(touch.customer_id)
            if seen is None or touch.timestamp < seen:
                earliest[touch.customer_id] = touch.timestamp
    return sorted(
        invoice_id
        for invoice_id, customer_id, billing_date in drafts
        if billing_date is not None and earliest[customer_id] < billing_date
    )


def drafts_usage_refresh(*, invoice_ids: list[int]) -> int:
    """Re-rate the usage lines of these drafts from the usage known now; returns the lines changed.

    Each draft in its own transaction with its row locked (``refresh_draft_usage``); a draft finalized
    meanwhile is skipped (its late usage becomes an adjustment on the next invoice).
    """
    from invoicing.services.subscription_billing import refresh_draft_usage

    changed = 0
    for invoice_id in sorted(invoice_ids):
        with transaction.atomic():
            changed += refresh_draft_usage(invoice_id=invoice_id)
    return changed


def usage_changed_listener(touches: Sequence[UsageTouch]) -> None:
    """After a usage change committed: queue the re-rating of the drafts it belongs to, if any."""
    invoice_ids = drafts_for_usage(touches=touches)
    if not invoice_ids:
        return
    log.info("invoice.usage_refresh_queued", invoice_ids=invoice_ids)
    task_enqueue("invoicing.tasks.refresh_drafts_usage", invoice_ids)
