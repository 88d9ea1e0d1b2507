"""What the demo database holds, in a few lines: subscriptions and invoices by status, money per currency."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Sum

from billing.models import Subscription, UsageEvent
from invoicing.models import BillingRun, CreditNote, Invoice, InvoiceStatus, Payment

ISSUED = (InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE)


@dataclass(frozen=True)
class DemoSummary:
    subscriptions: dict[str, int]  # status -> count
    invoices: dict[str, int]  # status -> count
    billed: dict[str, Decimal]  # currency -> total of issued (open, paid, uncollectible) invoices
    collected: dict[str, Decimal]  # currency -> succeeded payments
    outstanding: dict[str, Decimal]  # currency -> amount due on open invoices
    past_due: int  # open invoices whose payment failed
    credit_notes: int
    payments: int
    billing_runs: int
    usage_events: int

    def lines(self) -> list[str]:
        def counts(values: dict[str, int]) -> str:
            return ", ".join(f"{count} {status}" for status, count in sorted(values.items())) or "none"

        def money(values: dict[str, Decimal]) -> str:
            return (
                ", ".join(f"{currency} {amount:,.2f}" for currency, amount in sorted(values.items())) or "-"
            )

        return [
            f"Subscriptions: {counts(self.subscriptions)}",
            f"Invoices: {counts(self.invoices)} ({self.past_due} past due); credit notes: {self.credit_notes}",
            f"Billed: {money(self.billed)}; collected: {money(self.collected)} in {self.payments} payments; "
            f"outstanding: {money(self.outstanding)}",
            f"Billing runs: {self.billing_runs}; usage events: {self.usage_events:,}",
        ]


def _sums(rows: object) -> dict[str, Decimal]:
    """{currency: sum} from (currency, sum) rows."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for currency, value in rows:  # type: ignore[attr-defined]
        out[str(currency)] += Decimal(value or 0)
    return dict(out)


def demo_summary() -> DemoSummary:
    """Counts and sums over the whole database (the demo's, on a demo database)."""
    subscriptions = dict(
        Subscription.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    invoices = dict(Invoice.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    billed = Invoice.objects.filter(status__in=ISSUED).values_list("currency").annotate(Sum("total"))
    collected = (
        Payment.objects.filter(status=Payment.Status.SUCCEEDED)
        .values_list("currency")
        .annotate(Sum("amount"))
    )
    outstanding = (
        Invoice.objects.filter(status=InvoiceStatus.OPEN).values_list("currency").annotate(Sum("amount_due"))
    )
    return DemoSummary(
        subscriptions=subscriptions,
        invoices=invoices,
        billed=_sums(billed.order_by()),
        collected=_sums(collected.order_by()),
        outstanding=_sums(outstanding.order_by()),
        past_due=Invoice.objects.filter(status=InvoiceStatus.OPEN, payment_failed_at__isnull=False).count(),
        credit_notes=CreditNote.objects.count(),
        payments=Payment.objects.filter(status=Payment.Status.SUCCEEDED).count(),
        billing_runs=BillingRun.objects.count(),
        usage_events=UsageEvent.objects.count(),
    )
