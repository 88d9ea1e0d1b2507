"""Late usage lands on the draft it belongs to at once (DESIGN.md: within the grace window the period's
invoice stays draft and late events update it; finance reviews the draft meanwhile).

``billing`` tells us after commit which (customer, event time) pairs its usage changed
(``billing.services.usage_hooks``, registered in ``invoicing.apps``). A draft holds the usage of periods
that ended by its billing date, so an event is for a draft of its customer when it is older than the
draft's billing date. Those drafts are re-rated by a task (eager: before the 202 returns; with
workers: within a second). Events of the current period, nearly all of them, touch no draft and cost
one indexed query per batch. A finalized invoice is never touched: the next billing run turns what
changed into ``adjustment`` lines (``prior_usage`` and ``usage_adjustments``, called by the rating of
``subscription_billing``).

Whether a draft's usage is stale is one test (``usage_lines_stale``), used by the re-rating and by
finalization, which re-rates a stale draft before freezing it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet

from accounts.audit import record_bulk_history
from billing.models import Price, Subscription
from billing.pricing import Period, line_tax
from billing.services.subscription_boundaries import Boundary
from billing.services.usage import UsageQuery, usage_quantities
from billing.services.usage_corrections import usage_corrections_since
from billing.services.usage_hooks import UsageTouch
from config.tasks_queue import task_enqueue
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus, LineKind
from invoicing.selectors import subscriptions_discounted
from invoicing.services import line_drafts
from invoicing.services.drafts import LineDraft, draft_tax, line_from_draft, recalculate_drafts

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


def late_window_start(boundaries: dict[int, Sequence[Boundary]], customer_ids: list[int]) -> datetime | None:
    """How far back late usage may have changed what was billed: the late-event limit, or further for
    customers whose usage a void or a backfill corrected (``UsageCorrection``)."""
    firsts = [b[0].ended.start for b in boundaries.values() if b]
    if not firsts:
        return None
    since = min(firsts) - timedelta(days=settings.RATECARD_LATE_EVENT_LIMIT_DAYS + 1)
    corrected = usage_corrections_since(customer_ids=customer_ids, before=since)
    return min(since, corrected) if corrected is not None else since


def prior_usage(
    sub_ids: list[int], since: datetime | None
) -> dict[int, dict[tuple[int, datetime, datetime], tuple[Decimal, Decimal]]]:
    """Per subscription and (price, period): quantity and amount already billed on finalized invoices."""
    out: dict[int, dict[tuple[int, datetime, datetime], tuple[Decimal, Decimal]]] = defaultdict(dict)
    if since is None:
        return out
    rows = InvoiceLine.objects.filter(
        subscription_id__in=sub_ids,
        kind__in=[LineKind.USAGE, LineKind.ADJUSTMENT],
        period_end__gt=since,
        price__isnull=False,
    ).exclude(invoice__status=InvoiceStatus.VOID)
    # A period whose usage line is still on a draft is re-rated on that draft when it is finalized
    # (refresh_draft_usage): no adjustment for it here, or late usage would be billed twice.
    on_drafts = set(
        rows.filter(kind=LineKind.USAGE, invoice__status=InvoiceStatus.DRAFT).values_list(
            "subscription_id", "price_id", "period_start", "period_end"
        )
    )
    for sub_id, price_id, start, end, amount, detail, kind in rows.values_list(
        "subscription_id", "price_id", "period_start", "period_end", "amount", "detail", "kind"
    ):
        assert start is not None and end is not None  # usage lines always carry their period
        if (sub_id, price_id, start, end) in on_drafts:
            continue
        key = (price_id, start, end)
        qty, billed = out[sub_id].get(key, (Decimal(0), Decimal(0)))
        delta = Decimal(detail.get("quantity_delta" if kind == LineKind.ADJUSTMENT else "quantity", "0"))
        out[sub_id][key] = (qty + delta, billed + amount)
    return out


def usage_adjustments(
    *,
    sub: Subscription,
    prior: dict[tuple[int, datetime, datetime], tuple[Decimal, Decimal]],
    usage: dict[UsageQuery, Decimal],
    price_by_id: dict[int, Price],
) -> list[LineDraft]:
    """``adjustment`` lines for the finalized usage of ``sub`` whose quantity changed since it was billed."""
    lines: list[LineDraft] = []
    for (price_id, start, end), (billed_qty, billed_amount) in sorted(
        prior.items(), key=lambda kv: (kv[0][1], kv[0][0])
    ):
        price = price_by_id.get(price_id)
        if price is None or price.metric_id is None:
            continue
        now = usage.get(
            UsageQuery(customer_id=sub.customer_id, metric_id=price.metric_id, start=start, end=end)
        )
        if now is None:
            continue
        line = line_drafts.adjustment_line(
            price=price,
            billed_quantity=billed_qty,
            billed_amount=billed_amount,
            quantity_now=now,
            currency=sub.currency,
            period_start=start,
            period_end=end,
            sub_id=sub.pk,
            plan_name=sub.plan_version.name,
        )
        if line is not None:
            lines.append(line)
    return lines


@dataclass(frozen=True)
class StaleUsage:
    """A usage line whose period's usage known now differs from the quantity it billed."""

    invoice_id: int
    quantity: Decimal  # the usage known now


def usage_lines_stale(*, lines: QuerySet[InvoiceLine]) -> dict[int, StaleUsage]:
    """The usage lines among ``lines`` that late usage changed, by line id: one read of the lines and one
    of the usage for all of them (finalization asks it of a whole batch of drafts)."""
    rows = list(
        lines.filter(
            kind=LineKind.USAGE,
            price__metric__isnull=False,
            subscription__isnull=False,
            period_start__isnull=False,
            period_end__isnull=False,
        ).values_list(
            "pk",
            "invoice_id",
            "invoice__customer_id",
            "price__metric_id",
            "period_start",
            "period_end",
            "quantity",
            "detail",
        )
    )
    queries = [
        UsageQuery(customer_id=customer_id, metric_id=metric_id, start=start, end=end)
        for _, _, customer_id, metric_id, start, end, _, _ in rows
        if start is not None and end is not None  # the filter above; this tells the type checker
    ]
    if not queries:
        return {}
    usage = usage_quantities(queries=queries)
    stale: dict[int, StaleUsage] = {}
    for (line_id, invoice_id, *_, quantity, detail), query in zip(rows, queries, strict=True):
        now = usage.get(query, Decimal(0))
        if Decimal((detail or {}).get("quantity", quantity)) != now:
            stale[line_id] = StaleUsage(invoice_id=invoice_id, quantity=now)
    return stale


def drafts_with_stale_usage(*, invoice_ids: Sequence[int]) -> set[int]:
    """The drafts among these whose usage lines late usage changed (``refresh_draft_usage`` them)."""
    stale = usage_lines_stale(lines=InvoiceLine.objects.filter(invoice_id__in=list(invoice_ids)))
    return {found.invoice_id for found in stale.values()}


def refresh_draft_usage(*, invoice_id: int) -> int:
    """Re-rate a draft's usage lines from the usage known now (late events inside the grace window).

    Returns how many lines changed. Call before finalizing: once finalized, late usage becomes an
    ``adjustment`` line on the next invoice instead.
    """
    invoice = Invoice.objects.select_for_update().filter(pk=invoice_id, status=InvoiceStatus.DRAFT).first()
    if invoice is None:
        return 0
    stale = usage_lines_stale(lines=InvoiceLine.objects.filter(invoice=invoice))
    if not stale:
        return 0
    lines = list(
        InvoiceLine.objects.filter(pk__in=list(stale))
        .select_related("price", "price__metric", "subscription__plan_version")
        .prefetch_related("price__tiers")
    )
    changed: list[InvoiceLine] = []
    for line in lines:
        quantity = stale[line.pk].quantity
        assert line.price is not None and line.subscription is not None
        fresh = line_drafts.usage_line(
            price=line.price,
            quantity=quantity,
            currency=invoice.currency,
            period=Period(line.period_start, line.period_end),  # type: ignore[arg-type]
            sub_id=line.subscription_id,  # type: ignore[arg-type]
            plan_name=line.subscription.plan_version.name,
        )
        line.quantity, line.unit_amount, line.amount, line.detail = (
            fresh.quantity,
            fresh.unit_amount,
            fresh.amount,
            fresh.detail,
        )
        # the line keeps its share of a discount until _rediscount splits the discount again
        line.tax = line_tax(
            amount=fresh.amount + line.discount_share,
            rate_percent=line.tax_rate_percent,
            currency=invoice.currency,
        )
        changed.append(line)
    if changed:
        InvoiceLine.objects.bulk_update(changed, ["quantity", "unit_amount", "amount", "detail", "tax"])
        record_bulk_history(changed, update=True, reason="late usage re-rated")
        _rediscount(invoice, {line.subscription_id for line in changed if line.subscription_id})
        recalculate_drafts([invoice.pk])
        log.info("invoice.usage_refreshed", invoice_id=invoice.pk, lines=len(changed))
    return len(changed)


def _rediscount(invoice: Invoice, sub_ids: set[int]) -> None:
    """Recompute the coupon discount of these subscriptions on a draft whose lines changed.

    The coupon line is written again and every line of the subscription gets its new share of it and
    the tax on its amount after that share, by the same rule as when the lines were first written.
    """
    subs = Subscription.objects.select_related("coupon").filter(pk__in=sub_ids, coupon__isnull=False)
    for sub in subs:
        InvoiceLine.objects.filter(invoice=invoice, subscription=sub).filter(
            Q(kind=LineKind.DISCOUNT) | Q(tax_in_covered_lines=True)
        ).delete()
        rows = list(InvoiceLine.objects.filter(invoice=invoice, subscription=sub).order_by("position", "id"))
        drafts = [
            LineDraft(
                kind=line.kind,
                description=line.description,
                amount=line.amount,
                period_start=line.period_start,
                period_end=line.period_end,
                subscription_id=line.subscription_id,
            )
            for line in rows
        ]
        drafts, discount = line_drafts.with_discount(
            sub=sub,
            coupon=sub.coupon,
            lines=drafts,
            currency=invoice.currency,
            once_used=bool(subscriptions_discounted([sub.pk], excluding_invoice=invoice.pk)),
        )
        for line, draft in zip(rows, drafts[: len(rows)], strict=True):  # the discount line comes last
            line.discount_share = draft.discount_share
            line.tax = draft_tax(draft=draft, rate_percent=line.tax_rate_percent, currency=invoice.currency)
        InvoiceLine.objects.bulk_update(rows, ["discount_share", "tax"])
        if discount is not None:
            position = InvoiceLine.objects.filter(invoice=invoice).count()
            line_from_draft(
                invoice=invoice,
                draft=discount,
                position=position,
                tax_rate=Decimal(invoice.customer.tax_rate_percent),
            ).save()
