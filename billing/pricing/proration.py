"""Proration by the exact elapsed-time fraction of a period, as Stripe does.

The fraction is a ``Fraction`` of microseconds, so the parts of a period always add up to exactly 1.
A change inside a period gives two lines, each rounded once: a credit for the unused part of what was
paid and a charge for the rest of the period at the new price or quantity. People see days
(``days_in``); the money uses the exact time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

from billing.pricing.errors import PricingError, PricingErrorCode
from billing.pricing.money import MONEY_CONTEXT, require_decimal, round_amount
from billing.pricing.periods import require_aware, to_utc

_MICROSECOND = timedelta(microseconds=1)
_ONE = Decimal(1)
_MICROSECONDS_PER_DAY = 86_400_000_000
_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _microseconds(delta: timedelta) -> int:
    return delta // _MICROSECOND


def proration_fraction(
    period_start: datetime, period_end: datetime, from_: datetime, to: datetime
) -> Fraction:
    """Exact share of ``[period_start, period_end)`` covered by ``[from_, to)`` (clamped to the period)."""
    for value, field in (
        (period_start, "period_start"),
        (period_end, "period_end"),
        (from_, "from_"),
        (to, "to"),
    ):
        require_aware(value, field)
    # Subtract in UTC: two datetimes sharing a tzinfo subtract as wall times, which is wrong across DST.
    start, end = to_utc(period_start), to_utc(period_end)
    if end <= start:
        raise ValueError("period_end: must be after period_start")
    if to_utc(to) < to_utc(from_):
        raise ValueError("to: must not be before from_")
    covered_start, covered_end = max(start, to_utc(from_)), min(end, to_utc(to))
    if covered_end <= covered_start:
        return Fraction(0)
    return Fraction(_microseconds(covered_end - covered_start), _microseconds(end - start))


def prorate(amount: Decimal, fraction: Fraction) -> Decimal:
    """``amount * fraction``, unrounded (exact when it fits 50 digits, else 50 significant digits)."""
    require_decimal(amount, "amount")
    if not isinstance(fraction, Fraction):
        raise TypeError(f"fraction: expected Fraction, got {type(fraction).__name__}")
    with localcontext(MONEY_CONTEXT):
        return amount * fraction.numerator / fraction.denominator


def days_in(period_start: datetime, period_end: datetime) -> Decimal:
    """Days between the two instants on ``period_start``'s wall clock, to 2 places (for display only).

    Wall-clock days, so March in Berlin shows 31.00 days although it lasts 30 days 23 hours.
    """
    require_aware(period_start, "period_start")
    require_aware(period_end, "period_end")
    local_end = period_end.astimezone(period_start.tzinfo)
    wall = local_end.replace(tzinfo=None) - period_start.replace(tzinfo=None)
    with localcontext(MONEY_CONTEXT):
        days = Decimal(_microseconds(wall)) / _MICROSECONDS_PER_DAY
    return days.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP, context=MONEY_CONTEXT)


@dataclass(frozen=True)
class ProrationLine:
    """One proration line: ``amount`` = ±quantity x unit_amount x fraction, ROUNDED once.

    Credits have a negative ``amount``; ``quantity`` and ``unit_amount`` stay positive as shown to people.
    ``period_start``/``period_end`` are the part of the period the line covers.
    """

    description: str
    quantity: Decimal
    unit_amount: Decimal
    fraction: Fraction
    amount: Decimal
    period_start: datetime
    period_end: datetime


def _format_quantity(quantity: Decimal) -> str:
    return format(quantity.normalize(), "f")


def _format_date(moment: datetime, zone_of: datetime) -> str:
    # Month names from a fixed table: strftime("%b") depends on the process locale.
    local = moment.astimezone(zone_of.tzinfo)
    return f"{local.day} {_MONTH_ABBR[local.month - 1]} {local.year}"


def _what(quantity: Decimal, name: str) -> str:
    if not name:
        return f"quantity {_format_quantity(quantity)}"
    if quantity == 1:
        return name
    return f"{_format_quantity(quantity)} x {name}"


def _check_non_negative(value: Decimal, field: str) -> None:
    require_decimal(value, field)
    if value < 0:
        raise PricingError(field, "must not be negative", PricingErrorCode.NEGATIVE_AMOUNT)


def _remaining_line(
    *,
    credit: bool,
    quantity: Decimal,
    unit_amount: Decimal,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
    currency: str,
    name: str,
) -> ProrationLine:
    _check_non_negative(quantity, "quantity")
    _check_non_negative(unit_amount, "unit_amount")
    for value, field in ((period_start, "period_start"), (period_end, "period_end"), (at, "at")):
        require_aware(value, field)
    if not to_utc(period_start) <= to_utc(at) < to_utc(period_end):
        raise ValueError("at: must be inside [period_start, period_end)")
    fraction = proration_fraction(period_start, period_end, at, period_end)
    with localcontext(MONEY_CONTEXT):
        full = quantity * unit_amount
    exact = prorate(full, fraction)
    amount = round_amount(-exact if credit else exact, currency)
    label = "Unused time on" if credit else "Remaining time on"
    description = f"{label} {_what(quantity, name)} after {_format_date(at, period_start)}"
    return ProrationLine(description, quantity, unit_amount, fraction, amount, at, period_end)


def proration_credit(
    *,
    quantity: Decimal,
    unit_amount: Decimal,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
    currency: str,
    name: str = "",
) -> ProrationLine:
    """Negative line crediting the unused part ``[at, period_end)`` of an in-advance fee (change, cancel)."""
    return _remaining_line(
        credit=True,
        quantity=quantity,
        unit_amount=unit_amount,
        period_start=period_start,
        period_end=period_end,
        at=at,
        currency=currency,
        name=name,
    )


def proration_charge(
    *,
    quantity: Decimal,
    unit_amount: Decimal,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
    currency: str,
    name: str = "",
) -> ProrationLine:
    """Positive line charging the remaining part ``[at, period_end)`` of the period at a new price."""
    return _remaining_line(
        credit=False,
        quantity=quantity,
        unit_amount=unit_amount,
        period_start=period_start,
        period_end=period_end,
        at=at,
        currency=currency,
        name=name,
    )


def quantity_change_prorations(
    *,
    unit_amount: Decimal,
    old_quantity: Decimal,
    new_quantity: Decimal,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
    currency: str,
    name: str = "",
) -> tuple[ProrationLine, ProrationLine]:
    """(credit for the old quantity, charge for the new one) over ``[at, period_end)``, each rounded once."""
    credit = proration_credit(
        quantity=old_quantity,
        unit_amount=unit_amount,
        period_start=period_start,
        period_end=period_end,
        at=at,
        currency=currency,
        name=name,
    )
    charge = proration_charge(
        quantity=new_quantity,
        unit_amount=unit_amount,
        period_start=period_start,
        period_end=period_end,
        at=at,
        currency=currency,
        name=name,
    )
    return credit, charge


def price_change_prorations(
    *,
    old_amount: Decimal,
    new_amount: Decimal,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
    currency: str,
    old_quantity: Decimal = _ONE,
    new_quantity: Decimal = _ONE,
    old_name: str = "",
    new_name: str = "",
) -> tuple[ProrationLine, ProrationLine]:
    """(credit for the old recurring amount, charge for the new one) over ``[at, period_end)``.

    ``old_amount`` / ``new_amount`` are the recurring unit amounts (the whole amount with the default
    quantity of 1). Each line is rounded once.
    """
    credit = proration_credit(
        quantity=old_quantity,
        unit_amount=old_amount,
        period_start=period_start,
        period_end=period_end,
        at=at,
        currency=currency,
        name=old_name,
    )
    charge = proration_charge(
        quantity=new_quantity,
        unit_amount=new_amount,
        period_start=period_start,
        period_end=period_end,
        at=at,
        currency=currency,
        name=new_name,
    )
    return credit, charge
