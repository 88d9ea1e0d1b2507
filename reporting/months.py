"""Calendar months in UTC, the unit every report is given in (API.md: months are calendar months in UTC)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from config.errors import ValidationFailed

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
MAX_MONTHS = 120  # ten years per report: more is a request for a data export, not a report


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant of the next month: months are half-open ``[start, end)``."""
        return self.next().start

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    @property
    def label(self) -> str:
        """How people read it: ``Apr 2026``."""
        return f"{calendar.month_abbr[self.month]} {self.year}"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @classmethod
    def of(cls, moment: datetime) -> Month:
        utc = moment.astimezone(UTC)
        return cls(utc.year, utc.month)


def parse_month(text: str, *, field: str) -> Month:
    match = _MONTH.match(text or "")
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1970:
        raise ValidationFailed(f"{field} must be a month written YYYY-MM, e.g. 2026-04.", field=field)
    return Month(int(match.group(1)), int(match.group(2)))


def months_ending(last: Month, count: int = 12) -> list[Month]:
    """The ``count`` months up to and including ``last`` (a report's default window)."""
    months = [last]
    while len(months) < count:
        months.insert(0, months[0].previous())
    return months


def month_range(first: Month, last: Month) -> list[Month]:
    """``first`` to ``last`` inclusive; 400 when reversed or longer than ``MAX_MONTHS``."""
    if last < first:
        raise ValidationFailed("to must not be before from.", field="to")
    months = [first]
    while months[-1] < last:
        months.append(months[-1].next())
        if len(months) > MAX_MONTHS:
            raise ValidationFailed(f"A report covers at most {MAX_MONTHS} months.", field="to")
    return months
