"""Bill subscriptions at their period boundaries: the heart of a billing run, and of the API's changes.

``bill_subscriptions`` takes locked subscriptions and ``as_of`` and, for every boundary each one crossed,
writes a ``BilledPeriod`` (unique on subscription, period start, reason: a rerun writes nothing twice),
the lines (usage in arrears, fees in advance, prorations, one-offs, late-usage adjustments, discount) on
the customer's draft invoice for that date, and the subscription's next period. Reads and writes are
set-based: a constant number of queries per call, whatever the number of subscriptions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from django.conf import settings
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from accounts.audit import record_bulk_history, system_actor
from accounts.models import InvoiceGrouping
from billing.models import PendingLine, PlanVersion, Price, Subscription, SubscriptionChange
from billing.pricing import LineAmounts, Period, invoice_totals, line_tax
from billing.services.scheduled_changes import billing_horizons
from billing.services.subscription_periods import full_period_fraction
from billing.services.usage import UsageQuery, usage_quantities
from billing.services.usage_corrections import usage_corrections_since
from config.bulk import bulk_update_rows
from invoicing.models import BilledPeriod, BillingRun, Invoice, InvoiceLine, InvoiceStatus, LineKind
from invoicing.services import rating
from invoicing.services.boundaries import Boundary, plan_boundaries
from invoicing.services.contract_commitments import CommitmentBook
from invoicing.services.drafts import LineDraft, draft_tax, line_from_draft

log = structlog.get_logger(__name__)

BOUNDARY_REASON = "period"
SUB_FIELDS = [
    "status",
    "plan_version",
    "quantity",
    "billing_anchor",
    "anchor_at",
    "timezone",
    "period_index",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "canceled_at",
    "ended_at",
    "updated_at",
]


@dataclass
class BillResult:
    billed_subscriptions: int = 0
    invoice_ids: set[int] = field(default_factory=set)
    created_invoice_ids: set[int] = field(default_factory=set)
    failures: list[tuple[int, int, str]] = field(default_factory=list)  # (subscription, customer, error)


@dataclass
class InvoicePlan:
    """Lines bound for one draft invoice (customer, billing date, group)."""

    customer_id: int
    billing_date: datetime
    group_key: str
    subscription_id: int | None
    tax_rate: Decimal
    currency: str
    net_terms_days: int = 0
    lines: list[LineDraft] = field(default_factory=list)
    records: list[tuple[int, datetime, datetime, str]] = field(default_factory=list)  # BilledPeriod rows


def group_key_for(sub: Subscription) -> str:
    return f"sub:{sub.pk}" if sub.customer.invoice_grouping == InvoiceGrouping.PER_SUBSCRIPTION else ""


def load_prices(version_ids: set[int]) -> dict[int, list[Price]]:
    prices: dict[int, list[Price]] = defaultdict(list)
    for price in (
        Price.objects.filter(plan_version_id__in=version_ids)
        .select_related("metric")
        .prefetch_related("tiers")
        .order_by("plan_version_id", "position", "id")
    ):
        prices[price.plan_version_id].append(price)
    return prices


def _late_window_start(boundaries: dict[int, list[Boundary]], customer_ids: list[int]) -> datetime | None:
    """How far back late usage may have changed what was billed: the late-event limit, or further for
    customers whose usage a void or a backfill corrected (``UsageCorrection``)."""
    firsts = [b[0].ended.start for b in boundaries.values() if b]
    if not firsts:
        return None
    since = min(firsts) - timedelta(days=settings.RATECARD_LATE_EVENT_LIMIT_DAYS + 1)
    corrected = usage_corrections_since(customer_ids=customer_ids, before=since)
    return min(since, corrected) if corrected is not None else since


def _prior_usage(
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


@dataclass
class Computed:
    """What billing ``subs`` up to ``as_of`` would write (nothing is written yet)."""

    plans: dict[tuple[int, datetime, str], InvoicePlan] = field(default_factory=dict)
    invoiced_pending: list[int] = field(default_factory=list)
    applied_changes: list[int] = field(default_factory=list)
    billed_subs: list[Subscription] = field(default_factory=list)
    failures: list[tuple[int, int, str]] = field(default_factory=list)


def bill_subscriptions(
    *, subs: list[Subscription], as_of: datetime, run: BillingRun | None = None
) -> BillResult:
    """Bill every boundary of the (locked) ``subs`` up to ``as_of``. Call inside ``transaction.atomic``.

    Subscriptions must be loaded with ``customer``, ``plan_version`` and ``coupon``. A subscription whose
    lines cannot be computed is reported in ``failures`` and left as it was; the others are billed.
    """
    computed = compute_billing(subs=subs, as_of=as_of, lock_pending=True)
    now = timezone.now()
    result = BillResult(failures=computed.failures)
    write_invoice_plans(plans=list(computed.plans.values()), run=run, result=result)
    if computed.invoiced_pending:
        PendingLine.objects.filter(pk__in=computed.invoiced_pending).update(invoiced_at=as_of)
    if computed.applied_changes:
        SubscriptionChange.objects.filter(pk__in=computed.applied_changes).update(applied=True)
    for sub in computed.billed_subs:
        sub.updated_at = now
    bulk_update_rows(computed.billed_subs, SUB_FIELDS)
    record_history(computed.billed_subs, update=True, run=run)
    result.billed_subscriptions += len(computed.billed_subs)
    return result


def record_history(objs: list[Any], *, update: bool, run: BillingRun | None) -> None:
    """Bulk writes bypass simple-history's signals: record them; a run's by the system actor."""
    if run is None:
        record_bulk_history(objs, update=update)  # the request's user (or the system actor)
    else:
        record_bulk_history(objs, update=update, actor=system_actor(), reason=f"billing run {run.pk}")


def compute_billing(*, subs: list[Subscription], as_of: datetime, lock_pending: bool) -> Computed:
    """The lines, records and new subscription states for every boundary up to ``as_of`` (no writes).

    The subscriptions' fields are moved to their new state in memory; ``lock_pending`` takes the pending
    lines FOR UPDATE SKIP LOCKED (billing) or reads them plainly (a preview).
    """
    result = Computed()
    if not subs:
        return result
    sub_ids = [s.pk for s in subs]
    scheduled: dict[int, list[SubscriptionChange]] = defaultdict(list)
    for change in SubscriptionChange.objects.filter(
        subscription_id__in=sub_ids, applied=False, effective_at__lte=as_of
    ):
        scheduled[change.subscription_id].append(change)
    version_ids = {s.plan_version_id for s in subs} | {
        c.new_plan_version_id for cs in scheduled.values() for c in cs if c.new_plan_version_id
    }
    versions = PlanVersion.objects.in_bulk(list(version_ids))
    prices = load_prices(version_ids)

    planned: dict[int, list[Boundary]] = {}
    states = {}
    horizons = billing_horizons(sub_ids)  # never bill past a scheduled change before it is applied
    for sub in subs:
        try:
            boundaries, state = plan_boundaries(
                sub=sub,
                customer=sub.customer,
                as_of=min(as_of, horizons.get(sub.pk, as_of)),
                scheduled=scheduled[sub.pk],
                versions=versions,
            )
        except Exception as exc:  # one subscription's bad data must not stop the others
            result.failures.append((sub.pk, sub.customer_id, f"{exc.__class__.__name__}: {exc}"))
            continue
        if boundaries:
            planned[sub.pk] = boundaries
            states[sub.pk] = state
    if not planned:
        return result
    by_id = {s.pk: s for s in subs}

    already = set(
        BilledPeriod.objects.filter(subscription_id__in=list(planned), reason=BOUNDARY_REASON).values_list(
            "subscription_id", "period_start"
        )
    )
    prior = _prior_usage(list(planned), _late_window_start(planned, [by_id[i].customer_id for i in planned]))
    prior_price_ids = {price_id for lines in prior.values() for price_id, _, _ in lines}
    loaded = {p.pk for ps in prices.values() for p in ps}
    if prior_price_ids - loaded:
        old_versions = set(
            Price.objects.filter(pk__in=prior_price_ids - loaded).values_list("plan_version_id", flat=True)
        )
        prices.update(load_prices(old_versions))
    price_by_id = {p.pk: p for ps in prices.values() for p in ps}

    queries: list[UsageQuery] = []
    for sub_id, boundaries in planned.items():
        sub = by_id[sub_id]
        for b in boundaries:
            if not b.was_trial:
                queries += rating.usage_queries(
                    customer_id=sub.customer_id, prices=prices[b.arrears_version.pk], period=b.ended
                )
        for price_id, start, end in prior.get(sub_id, {}):
            price = price_by_id.get(price_id)
            if price is not None and price.metric_id:
                queries.append(
                    UsageQuery(customer_id=sub.customer_id, metric_id=price.metric_id, start=start, end=end)
                )
    usage = usage_quantities(queries=queries) if queries else {}

    discounted = subscriptions_discounted([s.pk for s in subs if s.coupon_id])
    pending_by_sub: dict[int, list[PendingLine]] = defaultdict(list)
    one_offs: dict[int, list[PendingLine]] = defaultdict(list)
    customer_ids = {by_id[i].customer_id for i in planned}
    pending_qs = (
        PendingLine.objects.select_for_update(skip_locked=True) if lock_pending else PendingLine.objects.all()
    )
    for line in (
        pending_qs.filter(
            Q(subscription_id__in=list(planned)) | Q(customer_id__in=customer_ids, subscription__isnull=True)
        )
        .filter(invoiced_at__isnull=True, invoice_now=False)
        .order_by("id")
    ):
        if line.subscription_id:
            pending_by_sub[line.subscription_id].append(line)
        else:
            one_offs[line.customer_id].append(line)

    # contract hook: minimum commitments of the subscriptions that have one (two queries, or one)
    commitments = CommitmentBook.load(
        sub_ids=list(planned), since=min(b[0].ended.start for b in planned.values())
    )
    for sub_id, boundaries in planned.items():
        sub = by_id[sub_id]
        customer_one_offs = one_offs.pop(sub.customer_id, [])
        try:
            sub_plans = _rate_subscription(
                sub=sub,
                boundaries=boundaries,
                prices=prices,
                usage=usage,
                already=already,
                pending=pending_by_sub.get(sub_id, []),
                one_offs=customer_one_offs,
                prior=prior.get(sub_id, {}),
                price_by_id=price_by_id,
                discounted=discounted,
                commitments=commitments,
            )
        except Exception as exc:  # one subscription's failure must not stop the others
            log.warning(
                "billing.subscription_failed",
                subscription_id=sub_id,
                customer_id=sub.customer_id,
                error=str(exc),
            )
            result.failures.append((sub_id, sub.customer_id, f"{exc.__class__.__name__}: {exc}"))
            continue
        for key, plan in sub_plans.items():
            target = result.plans.setdefault(
                key, InvoicePlan(**{**plan.__dict__, "lines": [], "records": []})
            )
            target.lines += plan.lines
            target.records += plan.records
        result.invoiced_pending += [p.pk for p in pending_by_sub.get(sub_id, [])]
        result.invoiced_pending += [p.pk for p in customer_one_offs]
        result.applied_changes += [c for b in boundaries for c in b.applied_changes]
        states[sub_id].write_to(sub)
        result.billed_subs.append(sub)
    return result


def _rate_subscription(
    *,
    sub: Subscription,
    boundaries: list[Boundary],
    prices: dict[int, list[Price]],
    usage: dict[UsageQuery, Decimal],
    already: set[tuple[int, datetime]],
    pending: list[PendingLine],
    one_offs: list[PendingLine],
    prior: dict[tuple[int, datetime, datetime], tuple[Decimal, Decimal]],
    price_by_id: dict[int, Price],
    discounted: set[int],
    commitments: CommitmentBook | None = None,
) -> dict[tuple[int, datetime, str], InvoicePlan]:
    """Lines per invoice for one subscription's boundaries (no writes)."""
    customer = sub.customer
    out: dict[tuple[int, datetime, str], InvoicePlan] = {}
    group = group_key_for(sub)
    for position, b in enumerate(boundaries):
        if (sub.pk, b.ended.start) in already:
            continue  # billed by an earlier run; only the state moves on
        lines: list[LineDraft] = []
        if not b.was_trial:
            lines += rating.arrears_lines(
                prices=prices[b.arrears_version.pk],
                plan_name=b.arrears_version.name,
                seats=b.arrears_quantity,
                currency=sub.currency,
                period=b.ended,
                sub_id=sub.pk,
                customer_id=customer.pk,
                usage=usage,
            )
        if b.next_period is not None and b.next_schedule is not None:
            lines += rating.advance_lines(
                prices=prices[b.next_version.pk],
                plan_name=b.next_version.name,
                seats=b.next_quantity,
                currency=sub.currency,
                period=b.next_period,
                fraction=full_period_fraction(b.next_schedule, b.next_period),
                sub_id=sub.pk,
            )
        if position == 0:
            lines += rating.pending_drafts(pending)
            lines += rating.pending_drafts(one_offs)
            lines += _adjustments(sub=sub, prior=prior, usage=usage, price_by_id=price_by_id)
        lines, discount = rating.with_discount(
            sub=sub,
            coupon=sub.coupon,
            lines=lines,
            currency=sub.currency,
            once_used=sub.pk in discounted,
            credits_for_period=b.ended.start,  # pending credits are for the period that just ended
        )
        if discount is not None:
            discounted.add(sub.pk)
        if commitments is not None and not b.was_trial:  # contract hook: the period's true-up
            earlier = [line for p in out.values() for line in p.lines]
            lines += commitments.true_up(sub=sub, period=b.ended, lines=lines, earlier=earlier)
        if not lines:
            continue  # nothing owed at this boundary (e.g. the end of a canceled, prepaid period)
        key = (customer.pk, b.ended.end, group)
        plan = out.setdefault(
            key,
            InvoicePlan(
                customer_id=customer.pk,
                billing_date=b.ended.end,
                group_key=group,
                subscription_id=sub.pk if group else None,
                tax_rate=Decimal(customer.tax_rate_percent),
                currency=sub.currency,
                net_terms_days=customer.net_terms_days,
            ),
        )
        plan.lines += lines
        plan.records.append((sub.pk, b.ended.start, b.ended.end, BOUNDARY_REASON))
    return out


def _adjustments(
    *,
    sub: Subscription,
    prior: dict[tuple[int, datetime, datetime], tuple[Decimal, Decimal]],
    usage: dict[UsageQuery, Decimal],
    price_by_id: dict[int, Price],
) -> list[LineDraft]:
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
        line = rating.adjustment_line(
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


def subscriptions_discounted(sub_ids: list[int], *, excluding_invoice: int | None = None) -> set[int]:
    """The subscriptions that already had a coupon discount (a ``once`` coupon is then spent)."""
    if not sub_ids:
        return set()
    lines = InvoiceLine.objects.filter(subscription_id__in=sub_ids, kind=LineKind.DISCOUNT).exclude(
        invoice__status=InvoiceStatus.VOID
    )
    if excluding_invoice is not None:
        lines = lines.exclude(invoice_id=excluding_invoice)
    return set(lines.values_list("subscription_id", flat=True).distinct())


def write_invoice_plans(
    *, plans: list[InvoicePlan], run: BillingRun | None, result: BillResult
) -> dict[tuple[int, datetime, str], Invoice]:
    """Find or create each plan's draft invoice, then insert records and lines and recompute totals in bulk."""
    if not plans:
        return {}
    keys = {(p.customer_id, p.billing_date, p.group_key) for p in plans}

    def fetch() -> dict[tuple[int, datetime, str], Invoice]:
        found = Invoice.objects.filter(
            customer_id__in={k[0] for k in keys},
            billing_date__in={k[1] for k in keys},
            status=InvoiceStatus.DRAFT,
        )
        return {
            (i.customer_id, i.billing_date, i.group_key): i
            for i in found
            if (i.customer_id, i.billing_date, i.group_key) in keys
        }

    drafts = fetch()
    missing = [p for p in plans if (p.customer_id, p.billing_date, p.group_key) not in drafts]
    if missing:
        # ON CONFLICT DO NOTHING: a draft another worker just made for the same date is used as it is
        Invoice.objects.bulk_create(
            [
                Invoice(
                    customer_id=p.customer_id,
                    subscription_id=p.subscription_id,
                    billing_run=run,
                    currency=p.currency,
                    billing_date=p.billing_date,
                    group_key=p.group_key,
                    net_terms_days=p.net_terms_days,
                )
                for p in missing
            ],
            ignore_conflicts=True,
        )
        before = set(drafts)
        drafts = fetch()
        result.created_invoice_ids |= {drafts[k].pk for k in set(drafts) - before}
        record_history([drafts[k] for k in set(drafts) - before], update=False, run=run)
    BilledPeriod.objects.bulk_create(
        [
            BilledPeriod(
                subscription_id=sub_id,
                period_start=start,
                period_end=end,
                reason=reason,
                invoice=drafts[(p.customer_id, p.billing_date, p.group_key)],
                billing_run=run,
            )
            for p in plans
            for sub_id, start, end, reason in p.records
        ]
    )
    invoice_ids = [drafts[(p.customer_id, p.billing_date, p.group_key)].pk for p in plans]
    counts = dict(
        InvoiceLine.objects.filter(invoice_id__in=invoice_ids)
        .values_list("invoice_id")
        .annotate(n=Count("id"))
        .values_list("invoice_id", "n")
    )
    rows: list[InvoiceLine] = []
    for p in plans:
        invoice = drafts[(p.customer_id, p.billing_date, p.group_key)]
        start = counts.get(invoice.pk, 0)
        for offset, draft in enumerate(p.lines):
            rows.append(
                line_from_draft(invoice=invoice, draft=draft, position=start + offset, tax_rate=p.tax_rate)
            )
    InvoiceLine.objects.bulk_create(rows, batch_size=1000)
    record_history(rows, update=False, run=run)
    recalculate_drafts(invoice_ids)
    result.invoice_ids |= set(invoice_ids)
    return drafts


def recalculate_drafts(invoice_ids: list[int]) -> None:
    """Totals of many drafts from their lines, in two queries (DESIGN.md's invoice arithmetic)."""
    sums = {
        row["invoice_id"]: row
        for row in InvoiceLine.objects.filter(invoice_id__in=invoice_ids)
        .values("invoice_id")
        .annotate(
            amount_sum=Sum("amount"),
            tax_sum=Sum("tax"),
            discount_sum=Sum("amount", filter=Q(kind=LineKind.DISCOUNT)),
            start=Min("period_start"),
            end=Max("period_end"),
        )
    }
    invoices = list(Invoice.objects.filter(pk__in=invoice_ids, status=InvoiceStatus.DRAFT))
    for invoice in invoices:
        row = sums.get(invoice.pk)
        amount = Decimal(row["amount_sum"] or 0) if row else Decimal(0)
        discount = Decimal(row["discount_sum"] or 0) if row else Decimal(0)
        tax = Decimal(row["tax_sum"] or 0) if row else Decimal(0)
        # sums of rounded amounts are rounded: the engine checks, and computes the identities once
        totals = invoice_totals(
            lines=[
                LineAmounts(amount=amount - discount, tax=tax),
                LineAmounts(amount=discount, tax=Decimal(0), is_discount=True),
            ],
            credits_available=Decimal(0),
            amount_paid=invoice.amount_paid,
            currency=invoice.currency,
        )
        invoice.subtotal, invoice.discount, invoice.tax = totals.subtotal, totals.discount, totals.tax
        invoice.total, invoice.credits_applied, invoice.amount_due = (
            totals.total,
            totals.credits_applied,
            totals.amount_due,
        )
        if row:
            invoice.period_start, invoice.period_end = row["start"], row["end"]
    bulk_update_rows(
        invoices,
        [
            "subtotal",
            "discount",
            "tax",
            "total",
            "credits_applied",
            "amount_due",
            "period_start",
            "period_end",
        ],
    )


def refresh_draft_usage(*, invoice_id: int) -> int:
    """Re-rate a draft's usage lines from the usage known now (late events inside the grace window).

    Returns how many lines changed. Call before finalizing: once finalized, late usage becomes an
    ``adjustment`` line on the next invoice instead.
    """
    invoice = Invoice.objects.select_for_update().filter(pk=invoice_id, status=InvoiceStatus.DRAFT).first()
    if invoice is None:
        return 0
    lines = list(
        InvoiceLine.objects.filter(
            invoice=invoice, kind=LineKind.USAGE, price__metric__isnull=False, subscription__isnull=False
        )
        .select_related("price", "price__metric", "subscription__plan_version")
        .prefetch_related("price__tiers")
    )
    if not lines:
        return 0
    queries = {
        line.pk: UsageQuery(
            customer_id=invoice.customer_id,
            metric_id=line.price.metric_id,  # type: ignore[union-attr,arg-type]
            start=line.period_start,  # type: ignore[arg-type]
            end=line.period_end,  # type: ignore[arg-type]
        )
        for line in lines
    }
    usage = usage_quantities(queries=list(queries.values()))
    changed: list[InvoiceLine] = []
    for line in lines:
        quantity = usage.get(queries[line.pk], Decimal(0))
        if Decimal(line.detail.get("quantity", line.quantity)) == quantity:
            continue
        assert line.price is not None and line.subscription is not None
        fresh = rating.usage_line(
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
        drafts, discount = rating.with_discount(
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
