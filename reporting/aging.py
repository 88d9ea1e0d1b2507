"""Accounts receivable aging at a date (API.md, Reports): what is still due on open invoices, bucketed
by days past their due date — current (not yet due), 1–30, 31–60, 61–90 and over 90 days."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import DecimalField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import Customer
from billing.pricing import round_amount
from invoicing.models import CreditNote, Invoice, InvoiceStatus, Payment

BUCKETS = ("current", "1_30", "31_60", "61_90", "over_90")


def bucket_of(days_past_due: int) -> str:
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "1_30"
    if days_past_due <= 60:
        return "31_60"
    if days_past_due <= 90:
        return "61_90"
    return "over_90"


@dataclass
class AgingRow:
    customer_id: int
    external_id: str
    name: str
    buckets: dict[str, Decimal]
    invoice_ids: list[int] = field(default_factory=list)
    bucket_invoice_ids: dict[str, list[int]] = field(default_factory=dict)  # the drill-down per bucket

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), Decimal(0))


@dataclass
class AgingReport:
    currency: str
    as_of: datetime
    buckets: dict[str, Decimal]
    customers: list[AgingRow]

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), Decimal(0))


def _sum_before(
    model: type[CreditNote] | type[Payment], moment_field: str, as_of: datetime, **filters: object
) -> Subquery:
    rows = (
        model.objects.filter(invoice=OuterRef("pk"), **{f"{moment_field}__lte": as_of}, **filters)
        .order_by()
        .values("invoice")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    return Subquery(rows, output_field=DecimalField(max_digits=20, decimal_places=4))


def ar_aging_report(*, currency: str, as_of: datetime) -> AgingReport:
    """What was still due at ``as_of``, by customer and bucket, in two queries.

    As it stood then, not now: an invoice issued by ``as_of`` counts unless it was void or written off
    by then, less the credit notes and payments dated by then, so a past date gives the figure finance
    saw that day.
    """
    zero = round_amount(Decimal(0), currency)
    nothing = Value(Decimal(0), output_field=DecimalField(max_digits=20, decimal_places=4))
    rows = (
        Invoice.objects.filter(currency=currency, issued_at__lte=as_of)
        .exclude(status=InvoiceStatus.DRAFT)
        .exclude(voided_at__lte=as_of)
        .exclude(marked_uncollectible_at__lte=as_of)
        .annotate(
            due_then=F("total")
            - F("credits_applied")
            - Coalesce(_sum_before(CreditNote, "issued_at", as_of), nothing)
            - Coalesce(_sum_before(Payment, "occurred_at", as_of, status=Payment.Status.SUCCEEDED), nothing)
        )
        .filter(due_then__gt=0)
        .values_list("id", "customer_id", "due_then", "due_at", "issued_at")
        .order_by("customer_id", "due_at", "id")
    )
    totals = dict.fromkeys(BUCKETS, zero)
    per_customer: dict[int, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(BUCKETS, zero))
    invoices: dict[int, list[int]] = defaultdict(list)
    in_bucket: dict[int, dict[str, list[int]]] = defaultdict(lambda: {b: [] for b in BUCKETS})
    for invoice_id, customer_id, amount_due, due_at, issued_at in rows:
        amount_due = round_amount(amount_due, currency)
        days = (as_of - (due_at or issued_at or as_of)).days
        bucket = bucket_of(days)
        totals[bucket] += amount_due
        per_customer[customer_id][bucket] += amount_due
        invoices[customer_id].append(invoice_id)
        in_bucket[customer_id][bucket].append(invoice_id)
    names = {
        c.pk: c for c in Customer.objects.filter(pk__in=list(per_customer)).only("id", "external_id", "name")
    }
    customers = [
        AgingRow(
            customer_id=cid,
            external_id=names[cid].external_id,
            name=names[cid].name,
            buckets=per_customer[cid],
            invoice_ids=invoices[cid],
            bucket_invoice_ids=in_bucket[cid],
        )
        for cid in per_customer
    ]
    customers.sort(key=lambda row: (-row.total, row.external_id))
    return AgingReport(currency=currency, as_of=as_of, buckets=totals, customers=customers)
