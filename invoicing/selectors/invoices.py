"""Reads of invoicing's models that faces and services share (DESIGN.md: services write, selectors read).

Time is always given (``at``): a face passes its request's time, a service its business time; nothing
here reads the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet, Sum, prefetch_related_objects

from billing.models import ScheduledChange, ScheduledChangeStatus, Subscription, SubscriptionChange
from invoicing.models import (
    BalanceTransaction,
    BilledPeriod,
    BillingRun,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
)


def invoice_is_past_due(*, invoice: Invoice, at: datetime) -> bool:
    """Open with its due date gone by at ``at``."""
    return bool(invoice.status == InvoiceStatus.OPEN and invoice.due_at is not None and invoice.due_at < at)


def invoices_past_due(*, at: datetime, invoices: QuerySet[Invoice] | None = None) -> QuerySet[Invoice]:
    """The invoices (of ``invoices``; all by default) ``invoice_is_past_due`` at ``at``, as a queryset."""
    among = Invoice.objects.all() if invoices is None else invoices
    return among.filter(status=InvoiceStatus.OPEN, due_at__isnull=False, due_at__lt=at)


def invoices_for_api(queryset: QuerySet[Invoice] | None = None) -> QuerySet[Invoice]:
    """Invoices with what the invoice shape shows, in a constant number of queries (no PDF bytes)."""
    qs = Invoice.objects.all() if queryset is None else queryset
    return (
        qs.select_related("customer")
        .defer("pdf")
        .prefetch_related(Prefetch("lines", queryset=InvoiceLine.objects.order_by("position", "id")))
    )


def invoice_for_api(*, invoice_id: int) -> Invoice | None:
    return invoices_for_api(Invoice.objects.filter(pk=invoice_id)).first()


def invoice_for_pdf(*, invoice_id: int) -> Invoice | None:
    """An invoice with its customer, without the legacy PDF bytes (the stored documents hold them)."""
    return Invoice.objects.select_related("customer").defer("pdf").filter(pk=invoice_id).first()


def credit_notes_for_api(queryset: QuerySet[CreditNote] | None = None) -> QuerySet[CreditNote]:
    qs = CreditNote.objects.all() if queryset is None else queryset
    return qs.select_related("invoice", "customer")


def credit_note_for_api(*, credit_note_id: int) -> CreditNote | None:
    return credit_notes_for_api(CreditNote.objects.filter(pk=credit_note_id)).first()


def billing_run_get(*, run_id: int) -> BillingRun | None:
    """A billing run with its failures loaded (the run shape lists them)."""
    return BillingRun.objects.prefetch_related("failures").filter(pk=run_id).first()


def billing_run_drafts(*, run: BillingRun) -> QuerySet[Invoice]:
    """The run's draft invoices: created by it, or holding a period it billed."""
    return (
        Invoice.objects.filter(status=InvoiceStatus.DRAFT)
        .filter(Q(billing_run=run) | Q(billed_periods__billing_run=run))
        .distinct()
        .order_by("pk")
    )


def customer_credit_balance(*, customer_id: int, currency: str) -> Decimal:
    """Credit the customer holds (a positive number), from the balance ledger (negative = credit)."""
    value = BalanceTransaction.objects.filter(customer_id=customer_id, currency=currency).aggregate(
        s=Sum("amount")
    )["s"]
    total = Decimal(value or 0)
    return -total if total < 0 else Decimal(0)


def subscriptions_discounted(sub_ids: Sequence[int], *, excluding_invoice: int | None = None) -> set[int]:
    """The subscriptions that already had a coupon discount (a ``once`` coupon is then spent)."""
    if not sub_ids:
        return set()
    lines = InvoiceLine.objects.filter(subscription_id__in=list(sub_ids), kind=LineKind.DISCOUNT).exclude(
        invoice__status=InvoiceStatus.VOID
    )
    if excluding_invoice is not None:
        lines = lines.exclude(invoice_id=excluding_invoice)
    return set(lines.values_list("subscription_id", flat=True).distinct())


@dataclass(frozen=True)
class SubscriptionTimeline:
    """What a subscription's timeline shows besides the subscription: fetched in a fixed number of queries."""

    changes: Sequence[SubscriptionChange]
    billed_periods: Sequence[BilledPeriod]
    lines: Sequence[InvoiceLine]
    waiting: Sequence[ScheduledChange] = ()  # changes and cancels a billing run applies when it reaches them


def subscription_timeline(*, subscription: Subscription) -> SubscriptionTimeline:
    """Changes (with their plan versions and author), billed periods and invoice lines (with their
    invoice) of ``subscription``: three queries, however long its history."""
    prefetch_related_objects(
        [subscription],
        Prefetch(
            "changes",
            queryset=SubscriptionChange.objects.select_related(
                "old_plan_version__plan", "new_plan_version__plan", "created_by"
            ).order_by("effective_at", "id"),
        ),
        Prefetch(
            "billed_periods",
            queryset=BilledPeriod.objects.select_related("invoice").order_by("period_start", "id"),
        ),
    )
    lines = list(
        InvoiceLine.objects.filter(subscription=subscription)
        .select_related("invoice")
        .order_by("invoice__billing_date", "invoice_id", "position", "id")
    )
    waiting = ScheduledChange.objects.filter(
        subscription=subscription, status=ScheduledChangeStatus.SCHEDULED
    ).select_related("new_plan_version__plan")
    return SubscriptionTimeline(
        changes=list(subscription.changes.all()),
        billed_periods=list(subscription.billed_periods.all()),
        lines=lines,
        waiting=list(waiting),
    )
