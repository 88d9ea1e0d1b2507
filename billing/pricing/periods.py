"""Billing periods: half-open ``[start, end)`` spans of aware datetimes, computed on the local wall clock.

Months and years are added on the wall clock of the datetime's own time zone, so local midnight stays
local midnight across DST changes. Every instant comparison goes through UTC: Python compares two aware
datetimes that share a tzinfo by their wall times, which is wrong around a DST fold.

Anniversary period k is always computed from the anchor (anchor + k intervals), never from period k-1,
so an anchor on the 31st survives February: Jan 31 -> Feb 28 -> Mar 31.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum


class Interval(StrEnum):
    """The unit a price recurs on."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


_MONTHS_PER = {Interval.MONTH: 1, Interval.YEAR: 12}
_DAYS_PER = {Interval.DAY: 1, Interval.WEEK: 7}


def require_aware(value: datetime, field: str) -> datetime:
    """Return ``value`` if it is a timezone-aware datetime, else raise ValueError naming ``field``."""
    if not isinstance(value, datetime):
        raise TypeError(f"{field}: expected datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field}: must be timezone-aware")
    return value


def to_utc(value: datetime) -> datetime:
    """The same instant in UTC (safe to compare and subtract)."""
    return value.astimezone(UTC)


def resolve_wall_time(local: datetime, fold: int = 0) -> datetime:
    """The real instant for a wall-clock time in ``local.tzinfo``.

    A time that occurs twice (DST fold) keeps the requested ``fold`` (0: the first occurrence). A time
    skipped by a DST jump moves forward by the jump, as clocks do (02:30 -> 03:30), so it stays on the
    same local day.
    """
    zone = local.tzinfo
    preferred = local.replace(fold=fold).astimezone(UTC).astimezone(zone)
    # Naive comparison ignores fold: equal means the wall time exists as written.
    if preferred.replace(tzinfo=None) == local.replace(tzinfo=None):
        return preferred
    return local.replace(fold=0).astimezone(UTC).astimezone(zone)


def _check_count(value: int, field: str, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{field}: must be an integer >= {minimum}")


@dataclass(frozen=True)
class Period:
    """A half-open span ``[start, end)`` of aware datetimes, ``start < end``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        require_aware(self.start, "start")
        require_aware(self.end, "end")
        if not to_utc(self.start) < to_utc(self.end):
            raise ValueError("end: must be after start")

    def contains(self, moment: datetime) -> bool:
        """True when ``start <= moment < end``."""
        require_aware(moment, "moment")
        return to_utc(self.start) <= to_utc(moment) < to_utc(self.end)

    @property
    def duration(self) -> timedelta:
        """Elapsed (not wall-clock) time of the period."""
        return to_utc(self.end) - to_utc(self.start)


def add_interval(
    start: datetime, interval: Interval, count: int, *, anchor_day: int | None = None
) -> datetime:
    """``start`` plus ``count`` intervals on the wall clock of ``start``'s own time zone.

    Months and years clamp the day to the target month's length and aim for ``anchor_day`` (default:
    ``start.day``), so Jan 31 + 1 month = Feb 28/29 and Jan 31 + 2 months = Mar 31; from Feb 28 with
    ``anchor_day=31``, + 1 month = Mar 31. The time of day is kept. ``count`` may be negative.
    """
    require_aware(start, "start")
    if not isinstance(count, int) or isinstance(count, bool):
        raise ValueError("count: must be an integer")
    interval = Interval(interval)
    if interval in _DAYS_PER:
        if anchor_day is not None:
            raise ValueError("anchor_day: only months and years have an anchor day")
        # Aware + timedelta is wall-clock arithmetic in Python; resolve_wall_time handles DST gaps.
        return resolve_wall_time(start + timedelta(days=count * _DAYS_PER[interval]), start.fold)
    day = start.day if anchor_day is None else anchor_day
    _check_count(day, "anchor_day", 1)
    if day > 31:
        raise ValueError("anchor_day: must be between 1 and 31")
    month_index = start.year * 12 + (start.month - 1) + count * _MONTHS_PER[interval]
    year, month0 = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    local = start.replace(year=year, month=month0 + 1, day=min(day, last_day))
    return resolve_wall_time(local, start.fold)


def _anchor_day(anchor: datetime, interval: Interval) -> int | None:
    return anchor.day if Interval(interval) in _MONTHS_PER else None


def anniversary_period(*, anchor: datetime, interval: Interval, interval_count: int, index: int) -> Period:
    """The ``index``-th (0-based) period of a subscription whose first period starts at ``anchor``."""
    _check_count(interval_count, "interval_count", 1)
    _check_count(index, "index", 0)
    day = _anchor_day(anchor, interval)
    start = add_interval(anchor, interval, index * interval_count, anchor_day=day)
    end = add_interval(anchor, interval, (index + 1) * interval_count, anchor_day=day)
    return Period(start, end)


def anniversary_period_containing(
    *, anchor: datetime, interval: Interval, interval_count: int, at: datetime
) -> tuple[int, Period]:
    """The index and period of the anniversary period containing ``at`` (``at >= anchor``)."""
    require_aware(anchor, "anchor")
    require_aware(at, "at")
    _check_count(interval_count, "interval_count", 1)
    if to_utc(at) < to_utc(anchor):
        raise ValueError("at: is before the anchor (the first period's start)")
    interval = Interval(interval)
    local_at = at.astimezone(anchor.tzinfo)
    # Estimate from the calendar, then step: the estimate is off by at most one period.
    if interval in _MONTHS_PER:
        months = (local_at.year - anchor.year) * 12 + (local_at.month - anchor.month)
        index = max(0, months // (interval_count * _MONTHS_PER[interval]))
    else:
        days = (local_at.date() - anchor.date()).days
        index = max(0, days // (interval_count * _DAYS_PER[interval]))
    at_utc = to_utc(at)
    while True:
        period = anniversary_period(
            anchor=anchor, interval=interval, interval_count=interval_count, index=index
        )
        if index > 0 and to_utc(period.start) > at_utc:
            index -= 1
        elif to_utc(period.end) <= at_utc:
            index += 1
        else:
            return index, period


def periods_between(
    *, anchor: datetime, interval: Interval, interval_count: int, start: datetime, end: datetime
) -> Iterator[tuple[int, Period]]:
    """Yield ``(index, period)`` for the anniversary periods overlapping ``[start, end)``, in order."""
    require_aware(start, "start")
    require_aware(end, "end")
    first = start if to_utc(start) > to_utc(anchor) else anchor
    index, period = anniversary_period_containing(
        anchor=anchor, interval=interval, interval_count=interval_count, at=first
    )
    end_utc = to_utc(end)
    while to_utc(period.start) < end_utc:
        yield index, period
        index += 1
        period = anniversary_period(
            anchor=anchor, interval=interval, interval_count=interval_count, index=index
        )


# Calendar periods sit on one global grid so multi-interval periods line up the same way for every
# customer: positions count months from January of year 0 (quarters start in Jan/Apr/Jul/Oct, two-year
# periods on even years) or days from 0001-01-01, a Monday (so weeks start on Mondays).


def _calendar_unit(interval: Interval, interval_count: int) -> int:
    interval = Interval(interval)
    per = _MONTHS_PER.get(interval) or _DAYS_PER[interval]
    return per * interval_count


def _calendar_position(local: datetime, interval: Interval) -> int:
    if Interval(interval) in _MONTHS_PER:
        return local.year * 12 + (local.month - 1)
    return local.date().toordinal() - 1


def _calendar_boundary(position: int, interval: Interval, zone: tzinfo) -> datetime:
    if Interval(interval) in _MONTHS_PER:
        year, month0 = divmod(position, 12)
        local = datetime(year, month0 + 1, 1, tzinfo=zone)
    else:
        local = datetime.combine(date.fromordinal(position + 1), time(0), tzinfo=zone)
    # Where midnight is skipped by DST, the period starts at the first instant of that day.
    return resolve_wall_time(local)


def calendar_period_containing(
    *, at: datetime, interval: Interval, interval_count: int, tz: tzinfo
) -> Period:
    """The calendar period of ``tz`` containing ``at``.

    Boundaries are local midnight: on the 1st of the month (of January for years), on Mondays for weeks,
    every day for days. Multi-interval periods sit on one global grid (quarters start in Jan/Apr/Jul/Oct).
    """
    require_aware(at, "at")
    _check_count(interval_count, "interval_count", 1)
    unit = _calendar_unit(interval, interval_count)
    position = _calendar_position(at.astimezone(tz), interval)
    position -= position % unit
    at_utc = to_utc(at)
    # Boundaries moved by a DST gap can put ``at`` on the other side; step until it is inside.
    while to_utc(_calendar_boundary(position, interval, tz)) > at_utc:
        position -= unit
    while to_utc(_calendar_boundary(position + unit, interval, tz)) <= at_utc:
        position += unit
    return Period(
        _calendar_boundary(position, interval, tz), _calendar_boundary(position + unit, interval, tz)
    )


def calendar_first_period(*, start: datetime, interval: Interval, interval_count: int, tz: tzinfo) -> Period:
    """``[start, next calendar boundary)``: the possibly partial first period of calendar billing.

    The caller prorates it with ``proration_fraction`` against the full ``calendar_period_containing``.
    """
    full = calendar_period_containing(at=start, interval=interval, interval_count=interval_count, tz=tz)
    return Period(start, full.end)


def calendar_periods_between(
    *, interval: Interval, interval_count: int, tz: tzinfo, start: datetime, end: datetime
) -> Iterator[Period]:
    """Yield the full calendar periods overlapping ``[start, end)``, in order."""
    require_aware(end, "end")
    period = calendar_period_containing(at=start, interval=interval, interval_count=interval_count, tz=tz)
    end_utc = to_utc(end)
    while to_utc(period.start) < end_utc:
        yield period
        period = calendar_period_containing(
            at=period.end, interval=interval, interval_count=interval_count, tz=tz
        )
