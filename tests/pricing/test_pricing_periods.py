"""Periods: anniversary and calendar periods tile time, keep their anchor day and local midnight."""

import calendar
import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.pricing.periods import (
    Interval,
    Period,
    add_interval,
    anniversary_period,
    anniversary_period_containing,
    calendar_first_period,
    calendar_period_containing,
    calendar_periods_between,
    periods_between,
)

ZONES = [ZoneInfo(name) for name in ("UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney")]
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# --- worked example: anchor day 31 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "february_end"),
    [(2026, 28), (2028, 29)],
)
def test_monthly_anniversary_from_jan_31_goes_feb_end_then_back_to_31(year: int, february_end: int) -> None:
    anchor = datetime(year, 1, 31, tzinfo=BERLIN)
    periods = [
        anniversary_period(anchor=anchor, interval=Interval.MONTH, interval_count=1, index=i)
        for i in range(3)
    ]
    assert periods == [
        Period(datetime(year, 1, 31, tzinfo=BERLIN), datetime(year, 2, february_end, tzinfo=BERLIN)),
        Period(datetime(year, 2, february_end, tzinfo=BERLIN), datetime(year, 3, 31, tzinfo=BERLIN)),
        Period(datetime(year, 3, 31, tzinfo=BERLIN), datetime(year, 4, 30, tzinfo=BERLIN)),
    ]


def test_add_interval_clamps_then_returns_to_the_anchor_day() -> None:
    jan31 = datetime(2026, 1, 31, 9, 30, tzinfo=NEW_YORK)
    assert add_interval(jan31, Interval.MONTH, 1) == datetime(2026, 2, 28, 9, 30, tzinfo=NEW_YORK)
    assert add_interval(jan31, Interval.MONTH, 2) == datetime(2026, 3, 31, 9, 30, tzinfo=NEW_YORK)
    feb28 = datetime(2026, 2, 28, 9, 30, tzinfo=NEW_YORK)
    assert add_interval(feb28, Interval.MONTH, 1, anchor_day=31) == datetime(
        2026, 3, 31, 9, 30, tzinfo=NEW_YORK
    )
    assert add_interval(jan31, Interval.MONTH, -2) == datetime(2025, 11, 30, 9, 30, tzinfo=NEW_YORK)


def test_yearly_from_feb_29_clamps_and_comes_back_in_leap_years() -> None:
    anchor = datetime(2028, 2, 29, tzinfo=UTC)
    starts = [
        anniversary_period(anchor=anchor, interval=Interval.YEAR, interval_count=1, index=i).start
        for i in range(5)
    ]
    assert [s.date().isoformat() for s in starts] == [
        "2028-02-29",
        "2029-02-28",
        "2030-02-28",
        "2031-02-28",
        "2032-02-29",
    ]


def test_local_midnight_stays_local_midnight_across_dst() -> None:
    anchor = datetime(2026, 3, 1, tzinfo=BERLIN)  # CET; April is CEST
    period = anniversary_period(anchor=anchor, interval=Interval.MONTH, interval_count=1, index=0)
    assert period.end == datetime(2026, 4, 1, tzinfo=BERLIN)
    assert period.end.utcoffset() == timedelta(hours=2)
    assert period.duration == timedelta(days=31) - timedelta(hours=1)


def test_a_wall_time_skipped_by_dst_moves_forward_on_the_same_day() -> None:
    # 02:30 on 2026-03-08 does not exist in New York (clocks jump from 02:00 to 03:00).
    anchor = datetime(2026, 2, 8, 2, 30, tzinfo=NEW_YORK)
    moved = add_interval(anchor, Interval.MONTH, 1)
    assert (moved.day, moved.hour, moved.minute) == (8, 3, 30)
    assert utc(moved) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_days_and_weeks_add_on_the_wall_clock() -> None:
    start = datetime(2026, 3, 7, tzinfo=NEW_YORK)
    assert add_interval(start, Interval.DAY, 2) == datetime(2026, 3, 9, tzinfo=NEW_YORK)
    assert add_interval(start, Interval.WEEK, 1) == datetime(2026, 3, 14, tzinfo=NEW_YORK)
    with pytest.raises(ValueError, match="anchor_day"):
        add_interval(start, Interval.DAY, 1, anchor_day=3)


def test_period_is_half_open_aware_and_ordered() -> None:
    period = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    assert period.contains(datetime(2026, 1, 1, tzinfo=UTC))
    assert period.contains(datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC))
    assert not period.contains(datetime(2026, 2, 1, tzinfo=UTC))
    # The same instant seen from another zone is inside too.
    assert period.contains(datetime(2025, 12, 31, 19, tzinfo=NEW_YORK))
    with pytest.raises(ValueError, match="end"):
        Period(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="aware"):
        Period(datetime(2026, 1, 1), datetime(2026, 2, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="aware"):
        period.contains(datetime(2026, 1, 5))


def test_anniversary_period_containing_finds_index_and_period() -> None:
    anchor = datetime(2026, 1, 31, 12, tzinfo=BERLIN)
    index, period = anniversary_period_containing(
        anchor=anchor,
        interval=Interval.MONTH,
        interval_count=1,
        at=datetime(2026, 3, 31, 11, 59, tzinfo=BERLIN),
    )
    assert index == 1
    assert period == Period(
        datetime(2026, 2, 28, 12, tzinfo=BERLIN), datetime(2026, 3, 31, 12, tzinfo=BERLIN)
    )
    with pytest.raises(ValueError, match="at"):
        anniversary_period_containing(
            anchor=anchor, interval=Interval.MONTH, interval_count=1, at=datetime(2026, 1, 1, tzinfo=BERLIN)
        )


def test_quarterly_anniversary_periods() -> None:
    anchor = datetime(2026, 11, 30, tzinfo=UTC)
    period = anniversary_period(anchor=anchor, interval=Interval.MONTH, interval_count=3, index=1)
    assert period == Period(datetime(2027, 2, 28, tzinfo=UTC), datetime(2027, 5, 30, tzinfo=UTC))


def test_periods_between_lists_overlapping_periods() -> None:
    anchor = datetime(2026, 1, 15, tzinfo=UTC)
    found = list(
        periods_between(
            anchor=anchor,
            interval=Interval.MONTH,
            interval_count=1,
            start=datetime(2026, 3, 1, tzinfo=UTC),
            end=datetime(2026, 5, 15, tzinfo=UTC),
        )
    )
    assert [(i, p.start.month) for i, p in found] == [(1, 2), (2, 3), (3, 4)]


# --- anniversary tiling: every anchor day, 48 months, four zones -------------------------------


@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_anniversary_periods_tile_for_every_anchor_day(zone: ZoneInfo) -> None:
    for day in range(1, 32):
        month = 1 if day <= 28 else 3  # a month that has the day
        anchor = datetime(2026, month, day, tzinfo=zone)
        previous: Period | None = None
        for index in range(48):
            period = anniversary_period(anchor=anchor, interval=Interval.MONTH, interval_count=1, index=index)
            start = period.start
            assert start.day == min(day, calendar.monthrange(start.year, start.month)[1])
            assert (start.hour, start.minute) == (0, 0)
            assert utc(period.start) < utc(period.end)
            if previous is not None:
                assert utc(previous.end) == utc(period.start)
            previous = period


hours_without_dst_gaps = st.sampled_from([0, 1, *range(4, 24)])


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    year=st.integers(min_value=2020, max_value=2035),
    month=st.integers(min_value=1, max_value=12),
    day=st.integers(min_value=1, max_value=31),
    hour=hours_without_dst_gaps,
    minute=st.integers(min_value=0, max_value=59),
)
def test_anniversary_periods_keep_anchor_day_and_time(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int
) -> None:
    day = min(day, calendar.monthrange(year, month)[1])
    anchor = datetime(year, month, day, hour, minute, tzinfo=zone)
    periods = []
    for index in range(48):
        period = anniversary_period(anchor=anchor, interval=Interval.MONTH, interval_count=1, index=index)
        expected_day = min(day, calendar.monthrange(period.start.year, period.start.month)[1])
        assert period.start.day == expected_day
        assert (period.start.hour, period.start.minute) == (hour, minute)
        periods.append(period)
    for earlier, later in itertools.pairwise(periods):
        assert utc(earlier.end) == utc(later.start)


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    anchor_offset=st.integers(min_value=0, max_value=4 * 366 * 24 * 3600),
    at_offset=st.integers(min_value=0, max_value=5 * 366 * 24 * 3600),
    interval=st.sampled_from(list(Interval)),
    interval_count=st.integers(min_value=1, max_value=3),
)
def test_period_containing_contains_and_matches_its_index(
    zone: ZoneInfo, anchor_offset: int, at_offset: int, interval: Interval, interval_count: int
) -> None:
    # Any anchor instant, including ones whose wall time later falls into a DST gap.
    anchor = (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=anchor_offset)).astimezone(zone)
    at = anchor + timedelta(seconds=at_offset)
    index, period = anniversary_period_containing(
        anchor=anchor, interval=interval, interval_count=interval_count, at=at
    )
    assert period.contains(at)
    assert period == anniversary_period(
        anchor=anchor, interval=interval, interval_count=interval_count, index=index
    )
    following = anniversary_period(
        anchor=anchor, interval=interval, interval_count=interval_count, index=index + 1
    )
    assert utc(period.end) == utc(following.start)


# --- calendar periods ----------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES, ids=str)
@pytest.mark.parametrize(
    ("interval", "count"), [(Interval.MONTH, 1), (Interval.MONTH, 3), (Interval.YEAR, 1)]
)
def test_calendar_periods_tile_at_local_midnight_on_the_first(
    zone: ZoneInfo, interval: Interval, count: int
) -> None:
    periods = list(
        calendar_periods_between(
            interval=interval,
            interval_count=count,
            tz=zone,
            start=datetime(2026, 1, 1, tzinfo=zone),
            end=datetime(2030, 1, 1, tzinfo=zone),
        )
    )
    expected = 48 // count if interval is Interval.MONTH else 4
    assert len(periods) == expected
    for period in periods:
        local = period.start.astimezone(zone)
        assert (local.day, local.hour, local.minute) == (1, 0, 0)
        assert (local.month - 1) % (count if interval is Interval.MONTH else 12) == 0
    for earlier, later in itertools.pairwise(periods):
        assert utc(earlier.end) == utc(later.start)


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    offset=st.integers(min_value=0, max_value=4 * 366 * 24 * 3600),
    interval=st.sampled_from(list(Interval)),
    interval_count=st.integers(min_value=1, max_value=4),
)
def test_calendar_period_containing_contains_and_tiles(
    zone: ZoneInfo, offset: int, interval: Interval, interval_count: int
) -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=offset)
    period = calendar_period_containing(at=at, interval=interval, interval_count=interval_count, tz=zone)
    assert period.contains(at)
    following = calendar_period_containing(
        at=period.end, interval=interval, interval_count=interval_count, tz=zone
    )
    assert utc(following.start) == utc(period.end)
    local = period.start.astimezone(zone)
    assert (local.hour, local.minute) == (0, 0)
    if interval is Interval.WEEK:
        assert local.weekday() == 0


def test_calendar_first_period_is_partial_up_to_the_next_boundary() -> None:
    start = datetime(2026, 1, 15, 10, tzinfo=NEW_YORK)
    first = calendar_first_period(start=start, interval=Interval.MONTH, interval_count=1, tz=NEW_YORK)
    assert first == Period(start, datetime(2026, 2, 1, tzinfo=NEW_YORK))
    full = calendar_period_containing(at=start, interval=Interval.MONTH, interval_count=1, tz=NEW_YORK)
    assert full == Period(datetime(2026, 1, 1, tzinfo=NEW_YORK), datetime(2026, 2, 1, tzinfo=NEW_YORK))


def test_calendar_period_is_computed_in_the_given_zone() -> None:
    # 2026-01-31 23:30 in New York is already February in UTC and Berlin.
    at = datetime(2026, 1, 31, 23, 30, tzinfo=NEW_YORK)
    in_new_york = calendar_period_containing(at=at, interval=Interval.MONTH, interval_count=1, tz=NEW_YORK)
    in_berlin = calendar_period_containing(at=at, interval=Interval.MONTH, interval_count=1, tz=BERLIN)
    assert in_new_york.start == datetime(2026, 1, 1, tzinfo=NEW_YORK)
    assert in_berlin.start == datetime(2026, 2, 1, tzinfo=BERLIN)
