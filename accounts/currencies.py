"""Which currencies and time zones a customer may have (validated, never guessed)."""

from __future__ import annotations

import zoneinfo
from functools import cache

from moneyed import CurrencyDoesNotExist, get_currency

# Historical and fund codes py-moneyed knows are not billable currencies.
_NOT_BILLABLE = {"XXX", "XTS", "XAU", "XAG", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA"}


def is_known_currency(code: str) -> bool:
    """True for an ISO 4217 code (upper case) that money can be billed in."""
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha() or not code.isupper():
        return False
    if code in _NOT_BILLABLE:
        return False
    try:
        get_currency(code)
    except CurrencyDoesNotExist:
        return False
    return True


@cache
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_known_timezone(name: str) -> bool:
    """True for an IANA time zone name such as ``Europe/Berlin`` or ``UTC``."""
    return isinstance(name, str) and name in known_timezones()
