"""A subscription's timeline on its admin page: what happened to it, and what is scheduled, in time order.

It merges the subscription's own dates (start, trial end, end), its append-only changes, the periods
invoicing billed (``BilledPeriod``) with their invoice, and the invoice lines each invoice carries for
the subscription. ``timeline_entries`` is pure (it reads only the rows it is given, so the page's
queries stay constant), and the changes and cancels scheduled for later; ``invoicing.selectors.subscription_timeline`` fetches those rows; ``timeline_html`` renders the table.
Times are shown in the subscription's time zone, the one its periods are computed in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from billing.display import DASH, EMPTY, format_money, format_quantity, local_datetime, period_text, zone
from billing.models import (
    ChangeKind,
    PlanVersion,
    ScheduledChangeKind,
    Subscription,
    SubscriptionChange,
    SubscriptionStatus,
)
from billing.services.contract_pricing import is_contract_plan_version
from config.admin_kit import admin_change_url, linked
from invoicing.models import BilledPeriod, Invoice, InvoiceLine
from invoicing.selectors import SubscriptionTimeline

# entries at the same instant read in this order: the start, then the trial's end, then changes, then
# what was billed, then the end
CREATED, TRIAL, CHANGE, BILLED, INVOICED, ENDED = range(6)
NOTHING = mark_safe("")

CHANGE_LABELS = {
    ChangeKind.CREATE: "Created",
    ChangeKind.PLAN: "Plan change",
    ChangeKind.QUANTITY: "Seat change",
    ChangeKind.PLAN_AND_QUANTITY: "Plan and seat change",
    ChangeKind.CANCEL: "Cancellation",
    ChangeKind.REACTIVATE: "Reactivation",
    ChangeKind.STATUS: "Status change",
}

REASON_LABELS = {
    "initial": "first fees",
    "period": "period end: usage in arrears, next fees in advance",
    "cancel": "final invoice of a cancellation",
}


@dataclass(frozen=True)
class Entry:
    at: datetime
    rank: int
    event: str
    detail: SafeString
    scheduled: bool = False

    @property
    def sort_key(self) -> tuple[datetime, int]:
        return (self.at, self.rank)


# --- the pieces of an entry -------------------------------------------------------------------------


def invoice_label(invoice: Invoice) -> str:
    """``INV-2026-000001`` once finalized, ``draft #12`` before."""
    return invoice.number or f"draft #{invoice.pk}"


def invoice_link(invoice: Invoice) -> SafeString:
    """The invoice's label linked to its admin page (when the invoicing admin is installed)."""
    return format_html(
        "{} ({})",
        linked(invoice_label(invoice), admin_change_url("invoicing", "invoice", invoice.pk)),
        invoice.get_status_display(),
    )


def _version(version: PlanVersion | None) -> str:
    """``pro v1``; a contract's private prices by the plan they were negotiated on: ``Premium (contract
    prices v2)`` (its code, ``premium-contract-7 v2``, means nothing to the reader)."""
    if version is None:
        return EMPTY
    if is_contract_plan_version(version):  # v<n>: the n-th priced phase or amendment of the deal
        return f"{version.name} (contract prices v{version.version})"
    return str(version)


def _seats(value: object) -> str:
    return format_quantity(value) if value is not None else EMPTY  # type: ignore[arg-type]


def change_detail(change: SubscriptionChange) -> SafeString:
    """``pro v1 → business v1 · seats 10 → 15 · Prorate on the next invoice · applied · by fiona``."""
    parts: list[str] = []
    kind = change.kind
    if kind == ChangeKind.CREATE:
        parts.append(f"{_version(change.new_plan_version)}, {_seats(change.new_quantity)} seats")
    elif kind in (ChangeKind.PLAN, ChangeKind.QUANTITY, ChangeKind.PLAN_AND_QUANTITY):
        if change.old_plan_version_id != change.new_plan_version_id:
            parts.append(f"{_version(change.old_plan_version)} → {_version(change.new_plan_version)}")
        if change.old_quantity != change.new_quantity:
            parts.append(f"seats {_seats(change.old_quantity)} → {_seats(change.new_quantity)}")
        parts.append(change.get_proration_display())
    elif kind == ChangeKind.CANCEL:
        parts.append("at the period's end" if not change.applied else "ends the subscription")
    if kind != ChangeKind.CREATE:
        parts.append("applied" if change.applied else "scheduled")
    if change.note:
        parts.append(change.note)
    if change.created_by is not None:
        parts.append(f"by {change.created_by.get_username()}")
    return format_html("{}", " · ".join(parts))


def lines_summary(lines: Iterable[InvoiceLine]) -> SafeString:
    """One list item per invoice line: kind, amount, description."""
    items = [
        (line.get_kind_display(), format_money(line.amount, line.invoice.currency), line.description)
        for line in lines
    ]
    if not items:
        return NOTHING
    return format_html(
        '<ul class="ratecard-timeline-lines">{}</ul>',
        format_html_join("", "<li>{}: {} <small>({})</small></li>", items),
    )


def billed_detail(record: BilledPeriod, tz: tzinfo, lines: Sequence[InvoiceLine]) -> SafeString:
    reason = REASON_LABELS.get(record.reason, record.reason)
    return format_html(
        "period {} · {} · invoice {}{}",
        period_text(record.period_start, record.period_end, tz),
        reason,
        invoice_link(record.invoice),
        lines_summary(lines),
    )


# --- the timeline -----------------------------------------------------------------------------------


def timeline_entries(subscription: Subscription, rows: SubscriptionTimeline) -> list[Entry]:
    """Every entry of the timeline, sorted by time (scheduled ones included, flagged)."""
    tz = zone(subscription.timezone)
    entries: list[Entry] = []

    has_create = has_cancel = False
    for change in rows.changes:
        has_create |= change.kind == ChangeKind.CREATE
        has_cancel |= change.kind == ChangeKind.CANCEL
        rank = CREATED if change.kind == ChangeKind.CREATE else CHANGE
        label = CHANGE_LABELS.get(ChangeKind(change.kind), change.kind)
        entries.append(Entry(change.effective_at, rank, label, change_detail(change), not change.applied))
    for waiting in rows.waiting:
        if waiting.kind == ScheduledChangeKind.CANCEL:
            label, detail = "Cancellation", format_html("{}", "final invoice when a billing run reaches it")
        else:
            label = "Plan change" if waiting.new_plan_version_id else "Seat change"
            detail = format_html(
                "to {}, {} ({})",
                _version(waiting.new_plan_version) if waiting.new_plan_version_id else "the same plan",
                f"{_seats(waiting.new_quantity)} seats"
                if waiting.new_quantity is not None
                else "the same seats",
                waiting.get_proration_display(),
            )
        entries.append(Entry(waiting.effective_at, CHANGE, label, detail, scheduled=True))
    if not has_create:
        entries.append(
            Entry(subscription.started_at, CREATED, "Started", format_html("{}", "no creation record"))
        )

    if subscription.trial_end is not None:
        trialing = subscription.status == SubscriptionStatus.TRIALING
        entries.append(
            Entry(
                subscription.trial_end,
                TRIAL,
                "Trial ends" if trialing else "Trial ended",
                format_html("{}", "paid periods start here"),
                scheduled=trialing,
            )
        )

    lines_by_invoice: dict[int, list[InvoiceLine]] = defaultdict(list)
    for line in rows.lines:
        lines_by_invoice[line.invoice_id].append(line)
    shown: set[int] = set()
    for record in rows.billed_periods:
        lines = lines_by_invoice.get(record.invoice_id, []) if record.invoice_id not in shown else []
        shown.add(record.invoice_id)
        entries.append(Entry(record.invoice.billing_date, BILLED, "Billed", billed_detail(record, tz, lines)))
    for invoice_id, lines in lines_by_invoice.items():
        if invoice_id in shown:
            continue
        invoice = lines[0].invoice
        detail = format_html("invoice {}{}", invoice_link(invoice), lines_summary(lines))
        entries.append(Entry(invoice.billing_date, INVOICED, "Invoiced", detail))

    if subscription.canceled_at is not None and not has_cancel:
        entries.append(Entry(subscription.canceled_at, CHANGE, "Canceled", NOTHING))
    if subscription.cancel_at_period_end and subscription.ended_at is None and not has_cancel:
        at = subscription.cancel_at or subscription.current_period_end
        entries.append(Entry(at, ENDED, "Ends", format_html("{}", "at the period's end"), scheduled=True))
    if subscription.ended_at is not None:
        entries.append(Entry(subscription.ended_at, ENDED, "Ended", NOTHING))

    return sorted(entries, key=lambda e: e.sort_key)


def timeline_html(subscription: Subscription, rows: SubscriptionTimeline) -> SafeString:
    """The timeline as an HTML table, in the subscription's time zone."""
    tz = zone(subscription.timezone)
    entries = timeline_entries(subscription, rows)
    body = format_html_join(
        "",
        '<tr class="{}"><td>{}</td><td><strong>{}</strong>{}</td><td>{}</td></tr>',
        (
            (
                "scheduled" if e.scheduled else "",
                local_datetime(e.at, tz),
                e.event,
                mark_safe(" <em>(scheduled)</em>") if e.scheduled else "",
                e.detail,
            )
            for e in entries
        ),
    )
    return format_html(
        '<table class="ratecard-timeline"><caption>Times in {} {} periods are half-open [start, end)'
        "</caption><thead><tr><th>When</th><th>What</th><th>Details</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        subscription.timezone,
        DASH,
        body,
    )
