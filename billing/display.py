"""How billing's amounts, quantities, tiers, intervals and instants read on staff screens.

Pure text and HTML helpers, no queries beyond what the caller prefetched: the catalog and subscription
admins use them, and any other admin may (``format_money`` is the one way an amount is shown there).
Amounts are Decimals shown with their currency; instants of a subscription in its own time zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.html import format_html, format_html_join

from billing.models import PlanVersion, Price, PriceModel, PriceTier
from billing.pricing.money import minor_unit_exponent

EMPTY = "—"
DASH = "\u2013"  # en dash, between a tier's first and last unit and between a period's dates

# --- amounts and quantities -------------------------------------------------------------------------


def _format_decimal(value: Decimal, min_places: int) -> str:
    """``value`` with thousands separators and at least ``min_places`` decimals; more only when it has
    them (a sub-cent unit price such as 0.0004 keeps its digits)."""
    exponent = value.normalize().as_tuple().exponent
    places = max(min_places, -exponent) if isinstance(exponent, int) else min_places
    return f"{value:,.{places}f}"


def format_money(value: Decimal | None, currency: str) -> str:
    """``USD 18.00``, ``USD 0.0004``, ``JPY 1,200``; the currency's minor unit at least."""
    if value is None:
        return EMPTY
    return f"{currency} {_format_decimal(value, minor_unit_exponent(currency))}"


def format_quantity(value: Decimal) -> str:
    """``1,000``, ``0.5``: no trailing zeros."""
    return _format_decimal(value, 0)


def _is_whole(value: Decimal) -> bool:
    return value == value.to_integral_value()


# --- tiers and prices -------------------------------------------------------------------------------


def tier_units(previous_up_to: Decimal | None, up_to: Decimal | None) -> str:
    """The units a tier covers, ``(previous up_to, up_to]``: 1-100, 101-1,000, 1,001+ (with en dashes)."""
    if previous_up_to is None:
        if up_to is None:
            return "all units"
        return (
            f"1{DASH}{format_quantity(up_to)}"
            if _is_whole(up_to) and up_to >= 1
            else f"up to {format_quantity(up_to)}"
        )
    if _is_whole(previous_up_to):
        start = format_quantity(previous_up_to + 1)
        return f"{start}+" if up_to is None else f"{start}{DASH}{format_quantity(up_to)}"
    over = f"over {format_quantity(previous_up_to)}"
    return over if up_to is None else f"{over} up to {format_quantity(up_to)}"


def tier_rows(tiers: Iterable[PriceTier], currency: str) -> list[tuple[str, str, str]]:
    """One ``(units, unit price, flat fee)`` row per tier, in order."""
    rows = []
    previous: Decimal | None = None
    for tier in tiers:
        rows.append(
            (
                tier_units(previous, tier.up_to),
                format_money(tier.unit_amount, currency),
                format_money(tier.flat_amount, currency),
            )
        )
        previous = tier.up_to
    return rows


TIER_CAPTIONS = {
    PriceModel.GRADUATED: "Graduated: each unit is priced by the tier it falls in.",
    PriceModel.VOLUME: "Volume: every unit is priced by the tier the total quantity reaches.",
}


def tiers_table(price: Price) -> str:
    """The tiers of a graduated or volume price as an HTML table (prefetch ``tiers`` for lists)."""
    tiers = list(price.tiers.all())
    if not tiers:
        return EMPTY
    body = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", tier_rows(tiers, price.plan_version.currency)
    )
    return format_html(
        '<table class="ratecard-tiers"><caption>{}</caption>'
        "<thead><tr><th>Units</th><th>Unit price</th><th>Flat fee</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        TIER_CAPTIONS.get(PriceModel(price.model), ""),
        body,
    )


def interval_text(version: PlanVersion) -> str:
    """``month``, ``3 months``, ``year``."""
    if version.interval_count == 1:
        return version.interval
    return f"{version.interval_count} {version.interval}s"


def price_charge(price: Price) -> str:
    """What a price charges, in words: ``USD 18.00 per unit``, ``USD 5.00 per 100 units``."""
    version = price.plan_version
    currency = version.currency
    model = PriceModel(price.model)
    if model == PriceModel.FLAT:
        text = f"{format_money(price.amount, currency)} per {interval_text(version)}"
    elif model == PriceModel.PER_UNIT:
        text = f"{format_money(price.unit_amount, currency)} per unit"
    elif model == PriceModel.PACKAGE:
        size = f"{price.package_size:,}" if price.package_size is not None else "?"
        text = f"{format_money(price.package_amount, currency)} per {size} units (packages rounded up)"
    elif model == PriceModel.PERCENTAGE:
        percent = format_quantity(price.percent) if price.percent is not None else "?"
        text = f"{percent} % of the amount"
    else:
        text = f"{model.label} tiers"
    bounds = []
    if price.minimum_amount is not None:
        bounds.append(f"minimum {format_money(price.minimum_amount, currency)}")
    if price.maximum_amount is not None:
        bounds.append(f"maximum {format_money(price.maximum_amount, currency)}")
    return f"{text} ({', '.join(bounds)})" if bounds else text


def entitlement_text(value: Any) -> str:
    if value is True:
        return "on"
    if value is False:
        return "off"
    if value is None:
        return "unlimited"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# --- instants and periods in a subscription's time zone ---------------------------------------------


def zone(name: str) -> tzinfo:
    """The time zone called ``name``; UTC when the name is unknown (the screen still renders)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_datetime(value: datetime | None, tz: tzinfo) -> str:
    """``2026-01-31 00:00`` in ``tz``."""
    if value is None:
        return EMPTY
    return f"{value.astimezone(tz):%Y-%m-%d %H:%M}"


def local_date(value: datetime | None, tz: tzinfo) -> str:
    """``2026-01-31`` in ``tz``."""
    if value is None:
        return EMPTY
    return f"{value.astimezone(tz):%Y-%m-%d}"


def period_text(start: datetime | None, end: datetime | None, tz: tzinfo) -> str:
    """A half-open period ``[start, end)`` as dates in ``tz``: ``2026-01-31 – 2026-02-28``."""
    return f"{local_date(start, tz)} {DASH} {local_date(end, tz)}"
