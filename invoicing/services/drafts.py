"""Draft invoices: find or create the customer's draft for a billing date, add lines, recompute totals.

One draft per (customer, billing date, group) is guaranteed by a partial unique index; two workers that
race both end up on the same draft. Lines are rounded before they get here (billing.pricing's rule); tax
is computed per line at the customer's rate on the line's amount after its share of the coupon
discounts, and rounded per line (``draft_tax``); totals are exact sums (``billing.pricing.totals``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum

from accounts.audit import record_bulk_history
from accounts.models import Customer
from billing.pricing import LineAmounts, invoice_totals, line_tax, round_amount
from config.errors import ValidationFailed
from invoicing.models import BalanceTransaction, BillingRun, Invoice, InvoiceLine, InvoiceStatus, LineKind


@dataclass(frozen=True)
class LineDraft:
    """An invoice line before it is saved: ``amount`` is already rounded once.

    ``discount_share``: the line's share of the coupon discount lines that cover it (<= 0 on a charge,
    >= 0 on a credit; ``rating.with_discount``); its tax is computed on ``amount + discount_share``.
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


def draft_invoice_for(
    *,
    customer: Customer,
    billing_date: datetime,
    group_key: str = "",
    subscription_id: int | None = None,
    billing_run: BillingRun | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
) -> Invoice:
    """The customer's draft invoice for ``billing_date`` (created when missing), safe under races."""
    lookup = {
        "customer": customer,
        "billing_date": billing_date,
        "group_key": group_key,
        "status": InvoiceStatus.DRAFT,
    }
    existing = Invoice.objects.filter(**lookup).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            invoice = Invoice.objects.create(
                customer=customer,
                billing_date=billing_date,
                group_key=group_key,
                subscription_id=subscription_id,
                currency=customer.currency,
                billing_run=billing_run,
                period_start=period_start,
                period_end=period_end,
                net_terms_days=customer.net_terms_days,
            )
            invoice.refresh_from_db()  # amounts back as Decimals, not the int defaults
            return invoice
    except IntegrityError:
        # another worker created it between our read and our insert
        return Invoice.objects.get(**lookup)


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


def invoice_add_lines(
    *, invoice: Invoice, lines: list[LineDraft], tax_rate: Decimal | None = None
) -> list[InvoiceLine]:
    """Append lines to a draft (bulk insert) and widen its service period; call invoice_recalculate after."""
    if invoice.status != InvoiceStatus.DRAFT:
        raise ValueError(f"Invoice {invoice.pk} is not a draft.")
    if not lines:
        return []
    rate = Decimal(invoice.customer.tax_rate_percent) if tax_rate is None else tax_rate
    start = InvoiceLine.objects.filter(invoice=invoice).count()
    rows = [
        line_from_draft(invoice=invoice, draft=d, position=start + i, tax_rate=rate)
        for i, d in enumerate(lines)
    ]
    created = InvoiceLine.objects.bulk_create(rows)
    record_bulk_history(created, update=False)  # bulk inserts send no signals
    starts = [d.period_start for d in lines if d.period_start] + (
        [invoice.period_start] if invoice.period_start else []
    )
    ends = [d.period_end for d in lines if d.period_end] + (
        [invoice.period_end] if invoice.period_end else []
    )
    if starts and ends:
        Invoice.objects.filter(pk=invoice.pk).update(period_start=min(starts), period_end=max(ends))
        invoice.period_start, invoice.period_end = min(starts), max(ends)
    return created


def invoice_recalculate(*, invoice: Invoice, credits_available: Decimal = Decimal(0)) -> Invoice:
    """Recompute a draft's totals from its lines (DESIGN.md's invoice arithmetic), exactly."""
    if invoice.status != InvoiceStatus.DRAFT:
        raise ValueError(f"Invoice {invoice.pk} is not a draft.")
    rows = list(InvoiceLine.objects.filter(invoice=invoice).values_list("amount", "tax", "kind"))
    draft_totals_apply(invoice=invoice, lines=rows, credits_available=credits_available)
    Invoice.objects.filter(pk=invoice.pk).update(**{name: getattr(invoice, name) for name in TOTAL_FIELDS})
    return invoice


TOTAL_FIELDS = ("subtotal", "discount", "tax", "total", "credits_applied", "amount_due")


def draft_totals_apply(
    *, invoice: Invoice, lines: list[tuple[Decimal, Decimal, str]], credits_available: Decimal = Decimal(0)
) -> None:
    """Set a draft's ``TOTAL_FIELDS`` from its lines' (amount, tax, kind), in memory: the caller saves
    them (``invoice_recalculate`` for one draft, batch finalization for many at once)."""
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


def customer_credit_balance(*, customer_id: int, currency: str) -> Decimal:
    """Credit the customer holds (a positive number), from the balance ledger (negative = credit)."""
    value = BalanceTransaction.objects.filter(customer_id=customer_id, currency=currency).aggregate(
        s=Sum("amount")
    )["s"]
    total = Decimal(value or 0)
    return -total if total < 0 else Decimal(0)
