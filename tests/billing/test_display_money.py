"""The one formatter of amounts people read (billing.display.format_money): babel, locale-aware, exact."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings

from billing.display import customer_locale, format_money

NBSP = "\xa0"  # babel puts a no-break space between an amount and a trailing symbol


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        (Decimal("1534.5"), "USD", "en_US", "$1,534.50"),
        (Decimal("1534.5000"), "USD", "en_US", "$1,534.50"),  # a 4-place column: never 1534.5000
        (Decimal("1534.5"), "EUR", "de_DE", f"1.534,50{NBSP}€"),
        (Decimal("1534.5"), "EUR", "en_US", "€1,534.50"),
        (Decimal("939"), "JPY", "en_US", "¥939"),
        (Decimal("939.0000"), "JPY", "de_DE", f"939{NBSP}¥"),
        (Decimal("1200"), "JPY", "en_US", "¥1,200"),
        (Decimal("0.000400000000"), "USD", "en_US", "$0.0004"),  # a sub-cent unit price keeps its digits
        (Decimal("18.000000000000"), "USD", "en_US", "$18.00"),
        (Decimal("-1534.5"), "USD", "en_US", "-$1,534.50"),
        (Decimal("-1534.5"), "EUR", "de_DE", f"-1.534,50{NBSP}€"),
        (Decimal("1.234"), "KWD", "en_US", "KWD1.234"),  # 3 minor places
        (Decimal("0"), "USD", "en_US", "$0.00"),
    ],
)
def test_amounts_read_as_people_write_them(amount: Decimal, currency: str, locale: str, shown: str) -> None:
    assert format_money(amount, currency, locale=locale) == shown


def test_formatting_never_rounds() -> None:
    # rounding is billing.pricing.money's one rule, applied before an amount is stored
    assert format_money(Decimal("493.8268"), "USD", locale="en_US") == "$493.8268"
    assert format_money(Decimal("0.005"), "USD", locale="en_US") == "$0.005"


def test_no_amount_reads_as_a_dash() -> None:
    assert format_money(None, "USD") == "—"


def test_staff_screens_read_in_the_configured_locale() -> None:
    assert format_money(Decimal("1534.5"), "EUR") == "€1,534.50"  # RATECARD_LOCALE defaults to en_US
    with override_settings(RATECARD_LOCALE="de_DE"):
        assert format_money(Decimal("1534.5"), "EUR") == f"1.534,50{NBSP}€"


def test_a_customer_reads_amounts_as_its_country_writes_them() -> None:
    # English documents with the country's conventions when CLDR has them (en_DE), else the country's
    # language (pt_BR); no or an unknown country: RATECARD_LOCALE
    assert [customer_locale(c) for c in ("US", "de", "DE", "JP", "BR", "", None, "XX")] == [
        "en_US",
        "en_DE",
        "en_DE",
        "en_JP",
        "pt_BR",
        "en_US",
        "en_US",
        "en_US",
    ]
    assert format_money(Decimal("1534.5"), "EUR", locale=customer_locale("DE")) == f"1.534,50{NBSP}€"
    assert format_money(Decimal("939"), "JPY", locale=customer_locale("JP")) == "¥939"
    with override_settings(RATECARD_LOCALE="en_GB"):
        assert customer_locale("") == "en_GB"
