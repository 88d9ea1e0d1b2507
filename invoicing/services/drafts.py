"""The one draft writer: plans of lines become draft invoices (found or created), their lines and totals.

Everything that bills (billing runs, subscribe/change/cancel, one-off charges, and the test factories)
writes drafts through ``write_invoice_plans``. One draft per (customer, billing date, group) is
guaranteed by a partial unique index; two workers that race both end up on the same draft. Lines are rounded before they get here (billing.pricing's rule); tax
is computed per line at the customer's rate on the line's amount after its share of the coupon
discounts, and rounded per line (``draft_tax``); totals are exact sums (``billing.pricing.totals``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Min, Q, Sum

from accounts.audit import record_bulk_history, system_actor
from billing.pricing import LineAmounts, invoice_totals, line_tax, round_amount
from config.bulk import bulk_update_rows
from config.errors import ValidationFailed
from invoicing.models import BilledPeriod, BillingRun, Invoice, InvoiceLine, InvoiceStatus, LineKind


@dataclass(frozen=True)
class LineDraft:
    """An invoice line before it is saved: ``amount`` is already rounded once.

    ``discount_share``: the line's share of the coupon discount lines that cover it (<= 0 on a charge,
    >= 0 on a credit; ``line_drafts.with_discount``); its tax is computed on ``amount + discount_share``.
    ``tax_in_covered_lines``: a coupon line whose amount is split over the lines it covers, so its
    effect on tax is inside their tax and its own tax is 0. Both are stored on the ``InvoiceLine``.
    """

    kind: str
    description: str
    amount: Decimal
    quantity: Decimal = Decimal(1)
    unit_amount: Decimal | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    subscription_id: int | None = None
    price_id: int | None = None
    pending_line_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    discount_share: Decimal = Decimal(0)
    tax_in_covered_lines: bool = False


def draft_tax(*, draft: LineDraft, rate_percent: Decimal, currency: str) -> Decimal:
    """The line's tax: on its amount after its share of the discounts; 0 on a coupon line (its share
    of tax is in the covered lines'), so the invoice's tax is the sum of the lines' taxes."""
    if draft.tax_in_covered_lines:
        return round_amount(Decimal(0), currency)
    return line_tax(amount=draft.amount + draft.discount_share, rate_percent=rate_percent, currency=currency)


# An invoice's amounts are numeric(20, 4) and a line's quantity numeric(28, 12): a line beyond these
# (a huge price times a huge quantity) is refused as bad input instead of failing in the INSERT.
MAX_LINE_AMOUNT = Decimal(10**14)
MAX_LINE_QUANTITY = Decimal(10**16)


def line_from_draft(*, invoice: Invoice, draft: LineDraft, position: int, tax_rate: Decimal) -> InvoiceLine:
    if abs(draft.amount) >= MAX_LINE_AMOUNT or abs(draft.quantity) >= MAX_LINE_QUANTITY:
        raise ValidationFailed(
            f"The line {draft.description[:100]!r} ({draft.quantity} x {draft.unit_amount}) is larger than "
            f"an invoice can hold (amounts below {MAX_LINE_AMOUNT:,}).",
            field="quantity",
        )
    return InvoiceLine(
        invoice=invoice,
        position=position,
        kind=draft.kind,
        description=draft.description[:500],
        subscription_id=draft.subscription_id,
        price_id=draft.price_id,
        pending_line_id=draft.pending_line_id,
        quantity=draft.quantity,
        unit_amount=draft.unit_amount,
        amount=draft.amount,
        tax=draft_tax(draft=draft, rate_percent=tax_rate, currency=invoice.currency),
        tax_rate_percent=tax_rate,
        discount_share=draft.discount_share,
        tax_in_covered_lines=draft.tax_in_covered_lines,
        period_start=draft.period_start,
        period_end=draft.period_end,
        detail=draft.detail,
    )


TOTAL_FIELDS = ("subtotal", "discount", "tax", "total", "credits_applied", "amount_due")


def draft_totals_apply(
    *, invoice: Invoice, lines: list[tuple[Decimal, Decimal, str]], credits_available: Decimal = Decimal(0)
) -> None:
    """Set a draft's ``TOTAL_FIELDS`` from its lines' (amount, tax, kind), in memory: the caller saves
    them (``recalculate_drafts`` for drafts, batch finalization for many at once)."""
    totals = invoice_totals(
        lines=[LineAmounts(amount=a, tax=t, is_discount=k == LineKind.DISCOUNT) for a, t, k in lines],
        credits_available=credits_available,
        amount_paid=invoice.amount_paid,
        currency=invoice.currency,
    )
    invoice.subtotal = totals.subtotal
    invoice.discount = totals.discount
    invoice.tax = totals.tax
    invoice.total = totals.total
    invoice.credits_applied = totals.credits_applied
    invoice.amount_due = totals.amount_due


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


@dataclass(frozen=True)
class WrittenDrafts:
    """The drafts a write landed on, by (customer, billing date, group), and the ids of those it created."""

    drafts: dict[tuple[int, datetime, str], Invoice]
    created_ids: frozenset[int]

    def of(self, plan: InvoicePlan) -> Invoice:
        return self.drafts[(plan.customer_id, plan.billing_date, plan.group_key)]


def record_history(objs: list[Any], *, update: bool, run: BillingRun | None) -> None:
    """Bulk writes bypass simple-history's signals: record them; a run's by the system actor."""
    if run is None:
        record_bulk_history(objs, update=update)  # the request's user (or the system actor)
    else:
        record_bulk_history(objs, update=update, actor=system_actor(), reason=f"billing run {run.pk}")


def write_invoice_plans(*, plans: list[InvoicePlan], run: BillingRun | None) -> WrittenDrafts:
    """Find or create each plan's draft invoice, then insert records and lines and recompute totals in bulk."""
    if not plans:
        return WrittenDrafts(drafts={}, created_ids=frozenset())
    created: set[int] = set()
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
        created = {drafts[k].pk for k in set(drafts) - before}
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
    return WrittenDrafts(drafts=drafts, created_ids=frozenset(created))


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
