"""Which currency a report is in when the request names none: the one with the most customers."""

from __future__ import annotations

from django.db.models import Count

from accounts.currencies import is_known_currency
from accounts.models import Customer
from config.errors import ValidationFailed


def report_currency(requested: str | None) -> str:
    if requested:
        code = requested.strip().upper()
        if not is_known_currency(code):
            raise ValidationFailed(f"Unknown currency {requested!r}.", field="currency")
        return code
    top = Customer.objects.values("currency").annotate(n=Count("id")).order_by("-n", "currency").first()
    return str(top["currency"]) if top else "USD"


def report_currencies() -> list[str]:
    """Every currency customers are billed in, most customers first (for a currency switcher)."""
    rows = Customer.objects.values("currency").annotate(n=Count("id")).order_by("-n", "currency")
    return [str(r["currency"]) for r in rows]
