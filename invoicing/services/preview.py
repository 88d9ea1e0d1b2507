"""The upcoming invoice: what the customer's next billing date will bill, from what is known so far.

For each live subscription, the boundary at the end of its current period: usage so far in arrears, the
next period's fees in advance (after changes scheduled for that boundary), pending prorations and
one-off charges, the coupon's discount, tax per line after its share of the discount (the same
``draft_tax`` as billing) and the customer's credit balance. Nothing is
written: the subscriptions are fresh copies whose state moves only in memory, and a change scheduled
before the billing date is applied inside a savepoint that is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction

from accounts.models import Customer
from billing.models import Subscription
from billing.pricing import InvoiceTotals, LineAmounts, invoice_totals
from billing.services.scheduled_changes import scheduled_changes_due
from billing.services.subscriptions import LIVE_STATUSES
from invoicing.models import LineKind
from invoicing.selectors import credit_balance_at
from invoicing.services.drafts import LineDraft, draft_tax
from invoicing.services.scheduled_changes import subscriptions_apply_scheduled
from invoicing.services.subscription_billing import compute_billing


@dataclass(frozen=True)
class PreviewLine:
    draft: LineDraft
    tax: Decimal


@dataclass(frozen=True)
class InvoicePreview:
    customer: Customer
    currency: str
    billing_date: datetime | None
    lines: list[PreviewLine]
    totals: InvoiceTotals

    @property
    def period_start(self) -> datetime | None:
        starts = [line.draft.period_start for line in self.lines if line.draft.period_start]
        return min(starts) if starts else None

    @property
    def period_end(self) -> datetime | None:
        ends = [line.draft.period_end for line in self.lines if line.draft.period_end]
        return max(ends) if ends else None


def _live_subscriptions(customer: Customer) -> list[Subscription]:
    return list(
        Subscription.objects.select_related("customer", "plan_version", "plan_version__plan", "coupon")
        .filter(customer=customer, status__in=LIVE_STATUSES)
        .order_by("current_period_end", "id")
    )


def upcoming_invoice(*, customer: Customer) -> InvoicePreview:
    """Preview the customer's next invoice (the earliest upcoming billing date of its subscriptions)."""
    subs = _live_subscriptions(customer)
    billing_date = subs[0].current_period_end if subs else None
    drafts: list[LineDraft] = []
    if billing_date is not None:
        ids = [sub.pk for sub in subs]
        before = billing_date - timedelta(microseconds=1)
        with transaction.atomic():
            point = transaction.savepoint()
            if scheduled_changes_due(subscription_ids=ids, as_of=before):
                # a change scheduled inside the current period is applied before that billing date: apply
                # it here and roll it back, so the preview bills the new plan (and its prorations) once
                subscriptions_apply_scheduled(subscription_ids=ids, as_of=before)
                subs = _live_subscriptions(customer)
            # all at once, as the billing run will: the customer's one-off charges land once
            due = [sub for sub in subs if sub.current_period_end == billing_date]
            computed = compute_billing(subs=due, as_of=billing_date, lock_pending=False)
            for plan in computed.plans.values():
                drafts += plan.lines
            transaction.savepoint_rollback(point)
    rate = Decimal(customer.tax_rate_percent)
    lines = [
        PreviewLine(draft=d, tax=draft_tax(draft=d, rate_percent=rate, currency=customer.currency))
        for d in drafts
    ]
    totals = invoice_totals(
        lines=[
            LineAmounts(
                amount=line.draft.amount, tax=line.tax, is_discount=line.draft.kind == LineKind.DISCOUNT
            )
            for line in lines
        ],
        # contracts hook: the credit ledger's balance at the billing date (an expired grant is not drawn)
        credits_available=credit_balance_at(
            customer_id=customer.pk, currency=customer.currency, at=billing_date
        )
        if billing_date is not None
        else Decimal(0),
        amount_paid=Decimal(0),
        currency=customer.currency,
    )
    return InvoicePreview(
        customer=customer, currency=customer.currency, billing_date=billing_date, lines=lines, totals=totals
    )
