"""Where a subscription's periods fall: anniversary or calendar, in its time zone, month ends handled.

Pure helpers over ``billing.pricing.periods``; the subscription stores its anchor, time zone and the
index of its current period, and only billing runs move to the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

from accounts.models import BillingAnchor
from billing.models import Subscription
from billing.pricing import (
    Interval,
    Period,
    anniversary_period,
    calendar_period_containing,
    proration_fraction,
)


@dataclass(frozen=True)
class Schedule:
    """What periods are computed from: the anchor kind and instant, time zone and interval."""

    anchor_kind: str
    anchor_at: datetime
    timezone: str
    interval: str
    interval_count: int

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def period_at_index(schedule: Schedule, index: int) -> Period:
    """Period ``index`` (0 = the one starting at the anchor; for calendar billing possibly partial)."""
    anchor = schedule.anchor_at.astimezone(schedule.zone)
    interval = Interval(schedule.interval)
    if schedule.anchor_kind == BillingAnchor.ANNIVERSARY:
        return anniversary_period(
            anchor=anchor, interval=interval, interval_count=schedule.interval_count, index=index
        )
    period = calendar_period_containing(
        at=anchor, interval=interval, interval_count=schedule.interval_count, tz=schedule.zone
    )
    period = Period(anchor, period.end)
    for _ in range(index):
        period = calendar_period_containing(
            at=period.end, interval=interval, interval_count=schedule.interval_count, tz=schedule.zone
        )
    return period


def full_period_fraction(schedule: Schedule, period: Period, *, start: datetime | None = None) -> Fraction:
    """Share of a full billing period that ``[start or period.start, period.end)`` is.

    1 for anniversary periods; for a partial calendar period, its share of the calendar period around it.
    """
    start = start or period.start
    if schedule.anchor_kind == BillingAnchor.ANNIVERSARY:
        return proration_fraction(period.start, period.end, start, period.end)
    full = calendar_period_containing(
        at=period.start,
        interval=Interval(schedule.interval),
        interval_count=schedule.interval_count,
        tz=schedule.zone,
    )
    return proration_fraction(full.start, full.end, start, period.end)


def schedule_of(sub: Subscription) -> Schedule:
    return Schedule(
        anchor_kind=sub.billing_anchor,
        anchor_at=sub.anchor_at,
        timezone=sub.timezone,
        interval=sub.plan_version.interval,
        interval_count=sub.plan_version.interval_count,
    )
