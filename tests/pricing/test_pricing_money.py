"""Currencies, the one rounding rule and the Stripe minor-unit boundary."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.pricing.errors import PricingError
from billing.pricing.money import (
    UNIT_PLACES,
    from_minor_units,
    is_rounded,
    limit_unit_places,
    minor_unit,
    minor_unit_exponent,
    quantize_unit,
    round_amount,
    to_minor_units,
)

CURRENCIES = ["USD", "EUR", "JPY", "KRW", "KWD", "BHD", "HUF", "CLF"]
amounts = st.decimals(min_value=-(10**12), max_value=10**12, places=8, allow_nan=False, allow_infinity=False)


ISO_EXPONENTS = {
    "USD": 2, "eur": 2, "CHF": 2, "HUF": 2,
    "JPY": 0, "KRW": 0, "CLP": 0, "VND": 0, "ISK": 0, "XAF": 0, "XOF": 0,
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3,
}  # fmt: skip


@pytest.mark.parametrize(("currency", "exponent"), ISO_EXPONENTS.items())
def test_minor_unit_exponent_follows_iso_4217(currency: str, exponent: int) -> None:
    assert minor_unit_exponent(currency) == exponent


@pytest.mark.parametrize("code", ["US", "USDX", "U$D", "", "ÜSD"])
def test_malformed_currency_code_is_rejected_naming_currency(code: str) -> None:
    with pytest.raises(PricingError) as error:
        minor_unit_exponent(code)
    assert error.value.field == "currency"


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("493.8268", "USD", "493.83"),
        ("0.005", "USD", "0.01"),
        ("0.0049999", "USD", "0.00"),
        ("-0.005", "USD", "-0.01"),
        ("-0.001", "USD", "0.00"),
        ("1234.5", "JPY", "1235"),
        ("1234.4999", "JPY", "1234"),
        ("1.0005", "KWD", "1.001"),
        ("10", "USD", "10.00"),
    ],
)
def test_round_amount_is_half_up_to_the_minor_unit(amount: str, currency: str, expected: str) -> None:
    result = round_amount(Decimal(amount), currency)
    assert result == Decimal(expected)
    assert str(result) == expected


def test_round_amount_refuses_float() -> None:
    with pytest.raises(TypeError):
        round_amount(0.1, "USD")  # type: ignore[arg-type]


def test_round_amount_refuses_nan() -> None:
    with pytest.raises(PricingError):
        round_amount(Decimal("NaN"), "USD")


@given(amounts, st.sampled_from(CURRENCIES))
def test_round_amount_is_idempotent_and_within_half_a_minor_unit(amount: Decimal, currency: str) -> None:
    rounded = round_amount(amount, currency)
    assert round_amount(rounded, currency) == rounded
    assert abs(rounded - amount) <= minor_unit(currency) / 2
    assert is_rounded(rounded, currency)
    assert rounded.as_tuple().exponent == -minor_unit_exponent(currency)


@given(amounts, st.sampled_from(CURRENCIES))
def test_rounding_is_symmetric_so_credits_mirror_charges(amount: Decimal, currency: str) -> None:
    assert round_amount(-amount, currency) == -round_amount(amount, currency)


@given(st.decimals(min_value=-(10**6), max_value=10**6, places=4, allow_nan=False, allow_infinity=False))
def test_jpy_rounds_to_whole_yen(amount: Decimal) -> None:
    rounded = round_amount(amount, "JPY")
    assert rounded == rounded.to_integral_value()


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(CURRENCIES))
def test_minor_units_round_trip(value: int, currency: str) -> None:
    amount = from_minor_units(value, currency)
    assert is_rounded(amount, currency)
    assert to_minor_units(amount, currency) == value


@given(amounts, st.sampled_from(CURRENCIES))
def test_rounded_amounts_round_trip_through_minor_units(amount: Decimal, currency: str) -> None:
    rounded = round_amount(amount, currency)
    assert from_minor_units(to_minor_units(rounded, currency), currency) == rounded


def test_minor_units_examples() -> None:
    assert to_minor_units(Decimal("10.50"), "USD") == 1050
    assert to_minor_units(Decimal("10.5"), "USD") == 1050
    assert to_minor_units(Decimal("1050"), "JPY") == 1050
    assert to_minor_units(Decimal("1.234"), "KWD") == 1234
    assert str(from_minor_units(1050, "USD")) == "10.50"
    assert str(from_minor_units(-1, "USD")) == "-0.01"


def test_to_minor_units_refuses_an_unrounded_amount() -> None:
    with pytest.raises(ValueError, match="amount"):
        to_minor_units(Decimal("10.505"), "USD")
    with pytest.raises(ValueError):
        to_minor_units(Decimal("10.5"), "JPY")


def test_from_minor_units_refuses_bool() -> None:
    with pytest.raises(TypeError):
        from_minor_units(True, "USD")


def test_quantize_unit_keeps_twelve_places_half_up() -> None:
    assert UNIT_PLACES == 12
    assert quantize_unit(Decimal("0.0000000000005")) == Decimal("0.000000000001")
    assert quantize_unit(Decimal("0.00000000000049")) == Decimal("0")
    assert str(quantize_unit(Decimal("0.0004"))) == "0.000400000000"
    assert str(limit_unit_places(Decimal("1500"))) == "1500"
    assert limit_unit_places(Decimal("1.1234567890125")) == Decimal("1.123456789013")


def test_round_amount_ignores_the_global_decimal_context() -> None:
    import decimal

    with decimal.localcontext() as context:
        context.prec = 3
        context.rounding = decimal.ROUND_DOWN
        assert round_amount(Decimal("123456.785"), "USD") == Decimal("123456.79")
