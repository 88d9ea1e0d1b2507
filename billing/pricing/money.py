"""Money arithmetic: currency minor units and THE rounding rule of Ratecard.

The rule, written once here and nowhere else:

    An amount that is billed (an invoice line, a proration line, a discount, a tax, a true-up) is
    rounded ONCE, to its currency's ISO 4217 minor unit (2 places for USD/EUR, 0 for JPY, 3 for KWD),
    with ROUND_HALF_UP (halves go away from zero, so a credit is the exact mirror of a charge).
    Unit prices and quantities are not rounded to the minor unit: they keep up to ``UNIT_PLACES`` (12)
    decimal places. Everything before the final rounding is exact (or 50 significant digits where a
    division cannot be exact, e.g. a proration by 1/3).

All arithmetic runs in the local contexts below, never in the thread's global decimal context, which
other code may have changed. Integers in minor units exist only at the Stripe boundary
(``to_minor_units`` / ``from_minor_units``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, Inexact

from billing.pricing.errors import PricingError, PricingErrorCode

# 50 significant digits: far beyond any invoice (1e20 with 24 decimal places still fits) so intermediate
# results (quantity x 12-place unit price) are exact and only the final rounding loses digits.
MONEY_CONTEXT = Context(prec=50, rounding=ROUND_HALF_UP)

# Same precision, but any inexact result raises: used where the result is promised to be exact.
EXACT_CONTEXT = Context(prec=50, rounding=ROUND_HALF_UP, traps=[Inexact])

UNIT_PLACES = 12
_UNIT_QUANTUM = Decimal(1).scaleb(-UNIT_PLACES)

# ISO 4217 minor units that differ from the default of 2. Only ISO matters here; processors' own quirks
# (e.g. Stripe's handling of HUF or TWD) belong to the Stripe boundary.
_MINOR_UNITS: dict[str, int] = {
    # zero-decimal
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    # three-decimal
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    # four-decimal (units of account)
    "CLF": 4,
    "UYW": 4,
}
_DEFAULT_MINOR_UNIT = 2


def minor_unit_exponent(currency: str) -> int:
    """Number of decimal places of ``currency``'s minor unit (ISO 4217; 2 when not listed)."""
    code = currency.upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise PricingError(
            "currency", f"not an ISO 4217 code: {currency!r}", PricingErrorCode.UNKNOWN_CURRENCY
        )
    return _MINOR_UNITS.get(code, _DEFAULT_MINOR_UNIT)


def minor_unit(currency: str) -> Decimal:
    """The currency's smallest amount, e.g. ``Decimal("0.01")`` for USD, ``Decimal("1")`` for JPY."""
    return Decimal(1).scaleb(-minor_unit_exponent(currency))


def require_decimal(value: object, field: str) -> Decimal:
    """Return ``value`` if it is a finite Decimal; floats (and anything else) are refused."""
    # bool/int/float are refused on purpose: a float has already lost the exact value.
    if not isinstance(value, Decimal):
        raise TypeError(f"{field}: expected Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise PricingError(field, "must be a finite number")
    return value


def _positive_zero(value: Decimal) -> Decimal:
    # Rounding -0.001 gives -0.00; a figure shown to people must never read "-0.00".
    return value.copy_abs() if value.is_zero() else value


def round_amount(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` to ``currency``'s minor unit with ROUND_HALF_UP (the one rounding rule)."""
    require_decimal(amount, "amount")
    rounded = amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP, context=MONEY_CONTEXT)
    return _positive_zero(rounded)


def line_amount(quantity: Decimal, unit_amount: Decimal, currency: str) -> Decimal:
    """``quantity`` x ``unit_amount`` computed exactly in ``MONEY_CONTEXT``, then rounded once."""
    require_decimal(quantity, "quantity")
    require_decimal(unit_amount, "unit_amount")
    return round_amount(MONEY_CONTEXT.multiply(quantity, unit_amount), currency)


def is_rounded(amount: Decimal, currency: str) -> bool:
    """True when ``amount`` has no digits below the currency's minor unit (trailing zeros are fine)."""
    return round_amount(amount, currency) == amount


def require_rounded(amount: Decimal, currency: str, field: str) -> Decimal:
    """Return ``amount`` if already rounded to the minor unit, else raise ``PricingError`` on ``field``."""
    require_decimal(amount, field)
    if not is_rounded(amount, currency):
        raise PricingError(field, f"{amount} has more decimal places than {currency.upper()} allows")
    return amount


def quantize_unit(value: Decimal) -> Decimal:
    """Quantize a unit price or quantity to ``UNIT_PLACES`` (12) decimal places, ROUND_HALF_UP."""
    require_decimal(value, "value")
    return _positive_zero(value.quantize(_UNIT_QUANTUM, rounding=ROUND_HALF_UP, context=MONEY_CONTEXT))


def limit_unit_places(value: Decimal) -> Decimal:
    """``value`` as given when it has at most 12 decimal places, else ``quantize_unit(value)``.

    Unlike ``quantize_unit`` it keeps the caller's exponent (1500 stays 1500, not 1500.000000000000).
    """
    quantized = quantize_unit(value)
    return value if quantized == value else quantized


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Amount as an integer of minor units (Stripe boundary); the amount must already be rounded."""
    require_rounded(amount, currency, "amount")
    return int(amount.scaleb(minor_unit_exponent(currency), context=MONEY_CONTEXT))


def from_minor_units(value: int, currency: str) -> Decimal:
    """Decimal amount from an integer of minor units, e.g. ``1050`` USD -> ``Decimal("10.50")``."""
    # bool is an int subclass; True cents is certainly a bug.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"value: expected int, got {type(value).__name__}")
    return Decimal(value).scaleb(-minor_unit_exponent(currency), context=MONEY_CONTEXT)


def plain_amount(value: Decimal, currency: str) -> str:
    """A decimal string for people and the API: at least the currency's minor-unit places, no trailing
    zeros beyond them. ``0.1`` USD -> ``"0.10"``, ``0.0004`` -> ``"0.0004"``, ``5`` JPY -> ``"5"``."""
    places = minor_unit_exponent(currency)
    exponent = value.normalize().as_tuple().exponent
    shown = max(places, -exponent if isinstance(exponent, int) else 0)
    return f"{value:.{shown}f}"
