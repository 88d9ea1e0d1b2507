"""The upcoming invoice: what the customer's next billing date will bill, from what is known so far.

For each live subscription, the boundary at the end of its current period: usage so far in arrears, the
next period's fees in advance (after changes scheduled for that boundary), pending prorations and
one-off charges, the coupon's discount, tax per line after its share of the discount (the same
``draft_tax`` as billing) and the customer's credit balance. Nothing is written: the subscriptions
are fresh copies whose state moves only in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from accounts.models import Customer
from billing.models import Subscription
from billing.pricing import InvoiceTotals, LineAmounts, invoice_totals
from billing.services.subscriptions import LIVE_STATUSES
from invoicing.models import LineKind
from invoicing.services.drafts import LineDraft, customer_credit_balance, draft_tax
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


def upcoming_invoice(*, customer: Customer) -> InvoicePreview:
    """Preview the customer's next invoice (the earliest upcoming billing date of its subscriptions)."""
    subs = list(
        Subscription.objects.select_related("customer", "plan_version", "plan_version__plan", "coupon")
        .filter(customer=customer, status__in=LIVE_STATUSES)
        .order_by("current_period_end", "id")
    )
    billing_date = subs[0].current_period_end if subs else None
    drafts: list[LineDraft] = []
    if billing_date is not None:
        # all at once, as the billing run will: the customer's one-off charges land once
        due = [sub for sub in subs if sub.current_period_end == billing_date]
        computed = compute_billing(subs=due, as_of=billing_date, lock_pending=False)
        for plan in computed.plans.values():
            drafts += plan.lines
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
        credits_available=customer_credit_balance(customer_id=customer.pk, currency=customer.currency),
        amount_paid=Decimal(0),
        currency=customer.currency,
    )
    return InvoicePreview(
        customer=customer, currency=customer.currency, billing_date=billing_date, lines=lines, totals=totals
    )
