"""How amounts, quantities, tiers, intervals and instants read to people.

Pure text and HTML helpers, no queries beyond what the caller prefetched. ``format_money`` is the one
way an amount is shown to a person: on staff screens (admin, reports) and on a customer's documents
(invoice PDF, e-mails) alike. Instants of a subscription are shown in its own time zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import localedata
from babel.languages import get_official_languages
from babel.numbers import format_currency
from django.conf import settings
from django.utils.html import format_html, format_html_join

from billing.models.catalog import PlanVersion, Price, PriceModel, PriceTier

EMPTY = "—"
DASH = "\u2013"  # en dash, between a tier's first and last unit and between a period's dates

# --- amounts and quantities -------------------------------------------------------------------------
# ``format_money`` is the one formatter of every amount a person reads: the admin, the reports, the
# invoice PDF and the e-mails (the API and its CSV keep decimal strings beside a ``currency``). It is
# locale-aware through babel, as django-money's own formatting is; it never rounds (rounding is
# billing.pricing.money's one rule, applied before an amount is stored): every digit the amount has is
# shown, padded to the currency's minor unit.


def default_locale() -> str:
    """The locale of staff screens (admin, reports): ``RATECARD_LOCALE``, ``en_US`` unless set."""
    return str(getattr(settings, "RATECARD_LOCALE", "en_US") or "en_US")


def customer_locale(country: str | None) -> str:
    """The locale of what a customer reads (its invoice PDF and e-mails), from its billing country.

    The documents are written in English, so ``en_<COUNTRY>`` when CLDR has it (English words with the
    country's number and currency conventions: ``en_DE`` gives ``1.534,50 €``); otherwise the country's
    first official language (``pt_BR``); without a known country, ``RATECARD_LOCALE``.
    """
    return _country_locale((country or "").strip().upper()) or default_locale()


@lru_cache(maxsize=256)
def _country_locale(code: str) -> str | None:
    if len(code) != 2 or not code.isalpha():
        return None
    if localedata.exists(f"en_{code}"):
        return f"en_{code}"
    for language in get_official_languages(code, de_facto=True):
        if localedata.exists(f"{language}_{code}"):
            return f"{language}_{code}"
    return None


def _trimmed(value: Decimal) -> Decimal:
    """The same number without trailing zeros (``120.0000`` -> ``120``, ``0.000400`` -> ``0.0004``)."""
    trimmed = value.normalize()
    exponent = trimmed.as_tuple().exponent
    # 1.2E+3 back to 1200: exact, the value is whole (quantize to 1 cannot round it)
    return trimmed.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else trimmed


def format_money(value: Decimal | int | str | None, currency: str, *, locale: str | None = None) -> str:
    """``$1,534.50`` (en_US), ``1.534,50 €`` (de_DE), ``¥939``, ``$0.0004``, ``-$1,534.50``.

    The currency's minor unit at least; more places only when the amount has them (a sub-cent unit
    price). ``locale``: ``default_locale()`` on staff screens, ``customer_locale(country)`` on a
    customer's documents. ``None`` reads ``—``.
    """
    if value is None or value == "":
        return EMPTY
    amount = _trimmed(Decimal(value))
    return str(
        format_currency(amount, currency, locale=locale or default_locale(), decimal_quantization=False)
    )


def _format_decimal(value: Decimal, min_places: int) -> str:
    """``value`` with thousands separators and at least ``min_places`` decimals; more only when it has
    them."""
    exponent = value.normalize().as_tuple().exponent
    places = max(min_places, -exponent) if isinstance(exponent, int) else min_places
    return f"{value:,.{places}f}"


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
    """What a price charges, in words: ``$18.00 per unit``, ``$5.00 per 100 units``."""
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
