"""Everything the customer page ("customer 360") shows about one customer, read in a fixed number of
queries however many subscriptions, invoices, payments or ledger rows it has.

Long lists (invoices, payments, credit notes, the balance ledger, history) show the newest ``RECENT``
rows with their total count; the page links to the full, filtered admin lists. Subscription timelines
hold every row of each subscription (fetched for all subscriptions at once). The "Contract" section is
``contract_overview.contract_summary``; the slot for what other work adds later returns None today:
``payment_method_summary`` (Stripe).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import Contact, Customer
from billing.models import (
    BillableMetric,
    Feature,
    ScheduledChange,
    ScheduledChangeStatus,
    Subscription,
    SubscriptionChange,
)
from billing.services.entitlements import customer_entitlements
from billing.services.usage_live import LIVE_STATUSES
from billing.services.usage_reports import MAX_DAYS, daily_usage, day_boundaries, report_days, report_metrics
from invoicing.models import (
    BalanceTransaction,
    BilledPeriod,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
)
from invoicing.selectors.contract_overview import ContractSummary, contract_summary

# an invoice's stored bytes and snapshots: never read for a list
HEAVY_INVOICE_FIELDS = ("pdf", "customer_snapshot", "seller_snapshot")
RECENT = 25  # rows of each long list shown on the page (the rest: the admin's filtered lists)
USAGE_FALLBACK_DAYS = 30  # without a live subscription, usage over the last 30 days
INVOICE_LIST_FIELDS = (
    "id",
    "customer_id",
    "number",
    "status",
    "currency",
    "billing_date",
    "period_start",
    "period_end",
    "issued_at",
    "due_at",
    "total",
    "amount_paid",
    "amount_credited",
    "amount_due",
    "paid_at",
    "voided_at",
)


@dataclass(frozen=True)
class SubscriptionRows:
    """A subscription and what its timeline reads (``billing.admin.timeline.TimelineRows``'s parts)."""

    subscription: Subscription
    changes: list[SubscriptionChange]
    billed_periods: list[BilledPeriod]
    lines: list[InvoiceLine]
    waiting: list[ScheduledChange]

    @property
    def is_live(self) -> bool:
        return self.subscription.status in LIVE_STATUSES


@dataclass(frozen=True)
class EntitlementRow:
    key: str
    name: str
    value: Any  # True/False, a number, None (unlimited)
    used: Decimal | None = None  # when a metric measures the limit

    @property
    def share(self) -> int | None:
        """How much of a numeric limit is used, in percent (capped at 100 for the bar)."""
        if self.used is None or not isinstance(self.value, int | Decimal) or isinstance(self.value, bool):
            return None
        if self.value <= 0:
            return 100
        return min(100, int(self.used * 100 / Decimal(self.value)))

    @property
    def over(self) -> bool:
        return (
            self.used is not None
            and isinstance(self.value, int | Decimal)
            and not isinstance(self.value, bool)
            and self.used > self.value
        )


@dataclass(frozen=True)
class UsagePeriod:
    start: date  # first day, in the customer's zone
    end: date  # last day, included
    is_billing_period: bool  # the live subscription's current period (else the last 30 days)
    metrics: list[BillableMetric]
    series: dict[str, list[tuple[date, Decimal]]]


@dataclass(frozen=True)
class Totals:
    count: int
    amount_due: Decimal = Decimal(0)
    open_count: int = 0
    past_due_count: int = 0
    failed_count: int = 0


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    who: str
    what: str  # created / changed / deleted
    changes: list[tuple[str, str, str]]  # (field, old, new)
    reason: str = ""


@dataclass(frozen=True)
class CustomerOverview:
    customer: Customer
    tz: tzinfo
    contacts: list[Contact]
    contract: ContractSummary | None  # None: no contract and no credit grant (billed at list prices)
    payment_method: Any  # payment_method_summary(): None until Stripe payment methods exist
    subscriptions: list[SubscriptionRows]
    entitlements: list[EntitlementRow]
    usage: UsagePeriod
    invoices: list[Invoice]
    invoice_totals: Totals
    payments: list[Payment]
    payment_totals: Totals
    balance: Decimal
    ledger: list[BalanceTransaction]
    ledger_count: int
    credit_notes: list[CreditNote]
    credit_note_count: int
    history: list[HistoryRow] = field(default_factory=list)

    @property
    def live_subscriptions(self) -> list[SubscriptionRows]:
        return [s for s in self.subscriptions if s.is_live]


# --- slots for later work ---------------------------------------------------------------------------


def payment_method_summary(*, customer: Customer) -> Any:
    """The customer's default payment method (e.g. a card's brand and last four); None until Stripe
    payment methods are stored (the Stripe work returns them here)."""
    return None


# --- the parts --------------------------------------------------------------------------------------


def customer_zone(customer: Customer) -> tzinfo:
    """The customer's zone, the one the whole page shows times in (UTC if the name is unknown)."""
    try:
        return ZoneInfo(customer.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def subscriptions_with_timelines(customer: Customer) -> list[SubscriptionRows]:
    """Every subscription of the customer, live ones first, with its timeline's rows: five queries."""
    subscriptions = list(
        Subscription.objects.filter(customer=customer)
        .select_related("plan_version__plan", "coupon")
        .order_by("ended_at", "-started_at", "-id")
    )
    ids = [s.pk for s in subscriptions]
    changes: dict[int, list[SubscriptionChange]] = defaultdict(list)
    billed: dict[int, list[BilledPeriod]] = defaultdict(list)
    lines: dict[int, list[InvoiceLine]] = defaultdict(list)
    waiting: dict[int, list[ScheduledChange]] = defaultdict(list)
    if ids:
        for change in (
            SubscriptionChange.objects.filter(subscription_id__in=ids)
            .select_related("old_plan_version__plan", "new_plan_version__plan", "created_by")
            .order_by("effective_at", "id")
        ):
            changes[change.subscription_id].append(change)
        for record in (
            BilledPeriod.objects.filter(subscription_id__in=ids)
            .select_related("invoice")
            .defer(*(f"invoice__{name}" for name in HEAVY_INVOICE_FIELDS))
            .order_by("period_start", "id")
        ):
            billed[record.subscription_id].append(record)
        for line in (
            InvoiceLine.objects.filter(subscription_id__in=ids)
            .select_related("invoice")
            .defer("detail", *(f"invoice__{name}" for name in HEAVY_INVOICE_FIELDS))
            .order_by("invoice__billing_date", "invoice_id", "position", "id")
        ):
            lines[line.subscription_id].append(line)  # type: ignore[index]
        for scheduled in ScheduledChange.objects.filter(
            subscription_id__in=ids, status=ScheduledChangeStatus.SCHEDULED
        ).select_related("new_plan_version__plan"):
            waiting[scheduled.subscription_id].append(scheduled)
    rows = [
        SubscriptionRows(s, changes[s.pk], billed[s.pk], lines[s.pk], waiting[s.pk]) for s in subscriptions
    ]
    return sorted(rows, key=lambda r: not r.is_live)  # stable: newest first within each group


def entitlement_rows(customer: Customer, has_live: bool) -> list[EntitlementRow]:
    """Features of the live plans (and contract overrides) with usage beside each measured limit."""
    if not has_live:
        return []
    view = customer_entitlements(customer_id=customer.pk)
    names = dict(Feature.objects.filter(key__in=list(view.features)).values_list("key", "name"))
    rows = []
    for key in sorted(view.features):
        usage = view.usage.get(key)
        rows.append(
            EntitlementRow(
                key=key,
                name=names.get(key, key),
                value=view.features[key],
                used=Decimal(usage["used"]) if usage else None,
            )
        )
    return rows


def usage_period(
    customer: Customer, tz: tzinfo, live: Sequence[SubscriptionRows], today: date
) -> UsagePeriod:
    """Usage per day and metric over the live subscription's current period, up to today (in the
    customer's zone); the last 30 days when the customer has no live subscription."""
    if live:
        sub = live[0].subscription
        start = sub.current_period_start.astimezone(tz).date()
        # the period is half-open: its last day is the day before its end (a midnight end)
        last = (sub.current_period_end - timedelta(microseconds=1)).astimezone(tz).date()
        end = max(start, min(last, today))
        is_billing = True
    else:
        end, start, is_billing = today, today - timedelta(days=USAGE_FALLBACK_DAYS - 1), False
    start = max(start, end - timedelta(days=MAX_DAYS - 1))
    days = report_days(start, end)
    edges = day_boundaries(days, tz)
    metrics = report_metrics(customer_id=customer.pk, start_at=edges[0], end_at=edges[-1])
    series = (
        daily_usage(customer_id=customer.pk, start=start, end=end, tz=tz, metrics=metrics) if metrics else {}
    )
    return UsagePeriod(start, end, is_billing, metrics, series)


def recent_invoices(customer: Customer, highlight: int | None) -> tuple[list[Invoice], Totals]:
    """The newest invoices (and the one asked for, when it is older), with counts and what is due."""
    base = Invoice.objects.filter(customer=customer).only(*INVOICE_LIST_FIELDS)
    invoices = list(base.order_by("-billing_date", "-id")[:RECENT])
    if highlight is not None and all(i.pk != highlight for i in invoices):
        invoices += list(base.filter(pk=highlight))
    open_ = Q(status=InvoiceStatus.OPEN)
    figures = Invoice.objects.filter(customer=customer).aggregate(
        count=Count("id"),
        open_count=Count("id", filter=open_),
        past_due=Count("id", filter=open_ & Q(due_at__lt=timezone.now())),
        due=Sum("amount_due", filter=open_),
    )
    totals = Totals(
        count=figures["count"],
        amount_due=figures["due"] or Decimal(0),
        open_count=figures["open_count"],
        past_due_count=figures["past_due"],
    )
    return invoices, totals


def recent_payments(customer: Customer) -> tuple[list[Payment], Totals]:
    payments = Payment.objects.filter(invoice__customer=customer)
    rows = list(
        payments.select_related("invoice").only(
            *(f"invoice__{name}" for name in ("id", "number", "status")),
            "id",
            "invoice_id",
            "currency",
            "amount",
            "status",
            "method",
            "reference",
            "failure_reason",
            "occurred_at",
        )[:RECENT]
    )
    figures = payments.aggregate(
        count=Count("id"), failed=Count("id", filter=Q(status=Payment.Status.FAILED))
    )
    return rows, Totals(count=figures["count"], failed_count=figures["failed"])


def history_rows(customer: Customer) -> list[HistoryRow]:
    """The newest changes to the customer record (django-simple-history): who, when, which fields."""
    records = list(
        customer.history.select_related("history_user").order_by("-history_date", "-history_id")[: RECENT + 1]
    )  # type: ignore[attr-defined]
    labels = {"+": "created", "~": "changed", "-": "deleted"}
    rows: list[HistoryRow] = []
    for newer, older in zip(records, [*records[1:], None], strict=True):
        if len(rows) == RECENT:
            break
        changes: list[tuple[str, str, str]] = []
        if older is not None:
            delta = newer.diff_against(older, excluded_fields=["updated_at"])
            changes = [(c.field, str(c.old), str(c.new)) for c in delta.changes]
        user = newer.history_user
        rows.append(
            HistoryRow(
                at=newer.history_date,
                who=user.get_username() if user is not None else "system",
                what=labels.get(newer.history_type, newer.history_type),
                changes=changes,
                reason=newer.history_change_reason or "",
            )
        )
    return rows


def customer_overview(
    *,
    customer: Customer,
    today: date | None = None,
    at: datetime | None = None,
    highlight_invoice: int | None = None,
) -> CustomerOverview:
    """Everything the customer page shows. ``at`` (default now) is the time the contract's phase and the
    drawable credit are read at; ``today`` (in the customer's zone, default ``at``'s day) ends the usage
    chart; ``highlight_invoice`` is listed even when older than the newest ``RECENT``."""
    tz = customer_zone(customer)
    at = at or timezone.now()
    today = today or at.astimezone(tz).date()
    subscriptions = subscriptions_with_timelines(customer)
    live = [s for s in subscriptions if s.is_live]
    invoices, invoice_totals = recent_invoices(customer, highlight_invoice)
    payments, payment_totals = recent_payments(customer)
    ledger_rows = BalanceTransaction.objects.filter(customer=customer)
    ledger = ledger_rows.aggregate(balance=Sum("amount"), count=Count("id"))
    credit_notes = CreditNote.objects.filter(customer=customer)
    return CustomerOverview(
        customer=customer,
        tz=tz,
        contacts=list(Contact.objects.filter(customer=customer).order_by("name", "id")),
        contract=contract_summary(customer_id=customer.pk, currency=customer.currency, at=at),
        payment_method=payment_method_summary(customer=customer),
        subscriptions=subscriptions,
        entitlements=entitlement_rows(customer, bool(live)),
        usage=usage_period(customer, tz, live, today),
        invoices=invoices,
        invoice_totals=invoice_totals,
        payments=payments,
        payment_totals=payment_totals,
        # negative amounts are credit owed to the customer (BalanceTransaction)
        balance=ledger["balance"] or Decimal(0),
        ledger=list(
            ledger_rows.select_related("invoice", "credit_note")
            .defer(*(f"invoice__{name}" for name in HEAVY_INVOICE_FIELDS))
            .order_by("-id")[:RECENT]
        ),
        ledger_count=ledger["count"],
        credit_notes=list(
            credit_notes.select_related("invoice", "created_by")
            .defer(*(f"invoice__{name}" for name in HEAVY_INVOICE_FIELDS))
            .order_by("-issued_at", "-id")[:RECENT]
        ),
        credit_note_count=credit_notes.count(),
        history=history_rows(customer),
    )
