"""Bill subscriptions at their period boundaries: the heart of a billing run, and of the API's changes.

``bill_subscriptions`` takes locked subscriptions and ``as_of``. Billing plans what they owe
(``billing.services.subscription_advance``: the boundaries each crossed, its state after them, its
pending lines); ``compute_billing`` rates that plan into lines per draft invoice (usage in arrears, fees
in advance, prorations, one-offs, late-usage adjustments, discount) with a ``BilledPeriod`` record per
boundary (unique on subscription, period start, reason: a rerun writes nothing twice); the one draft
writer (``drafts.write_invoice_plans``) writes them, and billing moves the subscriptions on
(``subscription_advance_apply``). Invoicing writes only its own models. Reads and writes are
set-based: a constant number of queries per call, whatever the number of subscriptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import structlog

from accounts.models import InvoiceGrouping
from billing.models import PendingLine, Price, Subscription
from billing.services.subscription_advance import (
    SubscriptionAdvance,
    prices_by_version,
    subscription_advance,
    subscription_advance_apply,
)
from billing.services.subscription_periods import full_period_fraction
from billing.services.usage import UsageQuery, usage_quantities
from invoicing.models import BilledPeriod, BillingRun
from invoicing.selectors import subscriptions_discounted
from invoicing.services import line_drafts
from invoicing.services.contract_commitments import CommitmentBook
from invoicing.services.drafts import InvoicePlan, LineDraft, write_invoice_plans
from invoicing.services.late_usage import late_window_start, prior_usage, usage_adjustments

log = structlog.get_logger(__name__)

BOUNDARY_REASON = "period"


@dataclass
class BillResult:
    billed_subscriptions: int = 0
    invoice_ids: set[int] = field(default_factory=set)
    created_invoice_ids: set[int] = field(default_factory=set)
    failures: list[tuple[int, int, str]] = field(default_factory=list)  # (subscription, customer, error)


def group_key_for(sub: Subscription) -> str:
    return f"sub:{sub.pk}" if sub.customer.invoice_grouping == InvoiceGrouping.PER_SUBSCRIPTION else ""


@dataclass
class Computed:
    """What billing ``subs`` up to ``as_of`` would write (nothing is written yet)."""

    plans: dict[tuple[int, datetime, str], InvoicePlan] = field(default_factory=dict)
    invoiced_pending: list[int] = field(default_factory=list)
    advanced: list[SubscriptionAdvance] = field(default_factory=list)  # the subscriptions rated
    failures: list[tuple[int, int, str]] = field(default_factory=list)


def bill_subscriptions(
    *, subs: list[Subscription], as_of: datetime, run: BillingRun | None = None
) -> BillResult:
    """Bill every boundary of the (locked) ``subs`` up to ``as_of``. Call inside ``transaction.atomic``.

    Subscriptions must be loaded with ``customer``, ``plan_version`` and ``coupon``. A subscription whose
    lines cannot be computed is reported in ``failures`` and left as it was; the others are billed.
    """
    computed = compute_billing(subs=subs, as_of=as_of, lock_pending=True)
    result = BillResult(failures=computed.failures)
    written = write_invoice_plans(plans=list(computed.plans.values()), run=run)
    result.invoice_ids |= {invoice.pk for invoice in written.drafts.values()}
    result.created_invoice_ids |= written.created_ids
    subscription_advance_apply(
        advances=computed.advanced,
        invoiced_pending_ids=computed.invoiced_pending,
        as_of=as_of,
        system_reason=f"billing run {run.pk}" if run is not None else "",
    )
    result.billed_subscriptions += len(computed.advanced)
    return result


def compute_billing(*, subs: list[Subscription], as_of: datetime, lock_pending: bool) -> Computed:
    """The lines and records for every boundary up to ``as_of`` (no writes).

    ``lock_pending`` takes the pending lines FOR UPDATE SKIP LOCKED (billing) or reads them plainly (a
    preview).
    """
    plan = subscription_advance(subscriptions=subs, as_of=as_of, lock_pending=lock_pending)
    result = Computed(failures=list(plan.failures))
    if not plan.advances:
        return result
    advances = {a.subscription.pk: a for a in plan.advances}
    prices = dict(plan.prices)

    already = set(
        BilledPeriod.objects.filter(subscription_id__in=list(advances), reason=BOUNDARY_REASON).values_list(
            "subscription_id", "period_start"
        )
    )
    prior = prior_usage(
        list(advances),
        late_window_start(
            {i: a.boundaries for i, a in advances.items()},
            [a.subscription.customer_id for a in advances.values()],
        ),
    )
    prior_price_ids = {price_id for lines in prior.values() for price_id, _, _ in lines}
    loaded = {p.pk for ps in prices.values() for p in ps}
    if prior_price_ids - loaded:
        old_versions = set(
            Price.objects.filter(pk__in=prior_price_ids - loaded).values_list("plan_version_id", flat=True)
        )
        prices.update(prices_by_version(old_versions))
    price_by_id = {p.pk: p for ps in prices.values() for p in ps}

    queries: list[UsageQuery] = []
    for sub_id, advance in advances.items():
        sub = advance.subscription
        for b in advance.boundaries:
            if not b.was_trial:
                queries += line_drafts.usage_queries(
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
    one_offs = dict(plan.one_offs)  # a customer's one-off charges go on its first invoice of the call
    # contract hook: minimum commitments of the subscriptions that have one (two queries, or one)
    commitments = CommitmentBook.load(
        sub_ids=list(advances), since=min(a.boundaries[0].ended.start for a in advances.values())
    )
    for sub_id, advance in advances.items():
        sub = advance.subscription
        customer_one_offs = list(one_offs.pop(sub.customer_id, ()))
        try:
            sub_plans = _rate_subscription(
                advance=advance,
                prices=prices,
                usage=usage,
                already=already,
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
        for key, sub_plan in sub_plans.items():
            target = result.plans.setdefault(
                key, InvoicePlan(**{**sub_plan.__dict__, "lines": [], "records": []})
            )
            target.lines += sub_plan.lines
            target.records += sub_plan.records
        result.invoiced_pending += [p.pk for p in advance.pending]
        result.invoiced_pending += [p.pk for p in customer_one_offs]
        result.advanced.append(advance)
    return result


def _rate_subscription(
    *,
    advance: SubscriptionAdvance,
    prices: dict[int, list[Price]],
    usage: dict[UsageQuery, Decimal],
    already: set[tuple[int, datetime]],
    one_offs: list[PendingLine],
    prior: dict[tuple[int, datetime, datetime], tuple[Decimal, Decimal]],
    price_by_id: dict[int, Price],
    discounted: set[int],
    commitments: CommitmentBook | None = None,
) -> dict[tuple[int, datetime, str], InvoicePlan]:
    """Lines per invoice for one subscription's boundaries (no writes)."""
    sub = advance.subscription
    customer = sub.customer
    out: dict[tuple[int, datetime, str], InvoicePlan] = {}
    group = group_key_for(sub)
    for position, b in enumerate(advance.boundaries):
        if (sub.pk, b.ended.start) in already:
            continue  # billed by an earlier run; only the state moves on
        lines: list[LineDraft] = []
        if not b.was_trial:
            lines += line_drafts.arrears_lines(
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
            lines += line_drafts.advance_lines(
                prices=prices[b.next_version.pk],
                plan_name=b.next_version.name,
                seats=b.next_quantity,
                currency=sub.currency,
                period=b.next_period,
                fraction=full_period_fraction(b.next_schedule, b.next_period),
                sub_id=sub.pk,
            )
        if position == 0:
            lines += line_drafts.pending_drafts(advance.pending)
            lines += line_drafts.pending_drafts(one_offs)
            lines += usage_adjustments(sub=sub, prior=prior, usage=usage, price_by_id=price_by_id)
        lines, discount = line_drafts.with_discount(
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
