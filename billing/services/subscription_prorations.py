"""Proration lines of a subscription change or cancel, as ``PendingLine`` rows (rounded once, unsaved).

A change inside a period credits the unused ``[at, period end)`` of the old fees and charges the new
ones, by the exact elapsed-time fraction (``billing.pricing.proration``); a change to a new interval
restarts the period at ``at`` and charges it in full at once. The caller saves the rows.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from billing.models import PendingLine, PendingLineKind, PlanVersion, Price, Subscription, SubscriptionChange
from billing.pricing import Period
from billing.services.subscription_charges import fee_lines, fmt_date, prices_of
from billing.services.subscription_periods import Schedule, full_period_fraction, period_at_index, schedule_of


def proration_pending_lines(
    *,
    sub: Subscription,
    at: datetime,
    old_version: PlanVersion,
    old_quantity: Decimal,
    new_version: PlanVersion,
    new_quantity: Decimal,
    change: SubscriptionChange | None,
    credit_only: bool = False,
) -> list[PendingLine]:
    """Credit the unused ``[at, period end)`` of the old fees and charge the new ones, by exact time."""
    period = Period(sub.current_period_start, sub.current_period_end)
    schedule = schedule_of(sub)
    zone = schedule.zone
    fraction = full_period_fraction(schedule, period, start=at)
    remaining = Period(at, period.end)
    lines: list[PendingLine] = []

    def pending(
        price: Price, amount: Decimal, quantity: Decimal, unit: Decimal | None, description: str
    ) -> None:
        lines.append(
            PendingLine(
                customer=sub.customer,
                subscription=sub,
                change=change,
                kind=PendingLineKind.PRORATION,
                description=description,
                currency=sub.currency,
                quantity=quantity,
                unit_amount=unit,
                amount=amount,
                period_start=remaining.start,
                period_end=remaining.end,
            )
        )

    since = fmt_date(at, zone)
    sides = [(old_version, old_quantity, -1, "Unused time on")]
    if not credit_only:
        sides.append((new_version, new_quantity, 1, "Remaining time on"))
    for version, seats, sign, label in sides:
        for price, line in fee_lines(
            prices=prices_of(version),
            plan_name=version.name,
            seats=seats,
            currency=sub.currency,
            period=remaining,
            fraction=fraction,
        ):
            if line.amount:
                pending(
                    price,
                    sign * line.amount,
                    line.quantity,
                    line.unit_amount,
                    f"{label} {line.description} after {since}",
                )
    return lines


def new_interval_pending_lines(
    *, sub: Subscription, at: datetime, version: PlanVersion, quantity: Decimal, change: SubscriptionChange
) -> list[PendingLine]:
    """A new interval (monthly to yearly) starts a new period at ``at``, billed in full now, as Stripe does.

    The subscription is re-anchored at ``at`` (in memory; the caller saves); the returned lines charge the
    new period's in-advance fees and are invoiced at once (a year's fee cannot wait a year).
    """
    schedule = Schedule(
        anchor_kind=sub.billing_anchor,
        anchor_at=at,
        timezone=sub.timezone,
        interval=version.interval,
        interval_count=version.interval_count,
    )
    period = period_at_index(schedule, 0)
    sub.anchor_at, sub.period_index = at, 0
    sub.current_period_start, sub.current_period_end = period.start, period.end
    fraction = full_period_fraction(schedule, period)
    zone = schedule.zone
    return [
        PendingLine(
            customer=sub.customer,
            subscription=sub,
            change=change,
            kind=PendingLineKind.PRORATION,
            description=f"{line.description} ({fmt_date(period.start, zone)} – {fmt_date(period.end, zone)})",
            currency=sub.currency,
            quantity=line.quantity,
            unit_amount=line.unit_amount,
            amount=line.amount,
            period_start=period.start,
            period_end=period.end,
            invoice_now=True,
        )
        for _, line in fee_lines(
            prices=prices_of(version),
            plan_name=version.name,
            seats=quantity,
            currency=sub.currency,
            period=period,
            fraction=fraction,
        )
        if line.amount
    ]
