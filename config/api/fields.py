"""Serializer fields for money: decimal strings in and out (``"107.00"``, ``"0.0004"``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.pricing.money import plain_amount


def format_amount(value: Decimal | None, currency: str | None) -> str | None:
    """A decimal string with at least the currency's minor-unit places and no trailing zeros beyond.

    ``0.1`` in USD -> ``"0.10"``; ``0.0004`` -> ``"0.0004"``; ``5`` in JPY -> ``"5"``.
    """
    if value is None:
        return None
    return plain_amount(value, currency or "USD")


@extend_schema_field(OpenApiTypes.STR)
class AmountField(serializers.DecimalField):
    """A money amount as a decimal string. Input: a string or a number, up to 12 decimal places.

    Output uses the currency the enclosing object set in ``context["currency"]`` (see
    ``CurrencyContextMixin``): the object that holds amounts states its currency once.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 28)
        kwargs.setdefault("decimal_places", 12)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        if value is None:
            return None
        return format_amount(Decimal(value), self.context.get("currency"))


class CurrencyContextMixin:
    """For a serializer whose instance has ``currency``: its amounts render in that currency."""

    currency_attribute = "currency"

    def to_representation(self, instance: Any) -> Any:
        currency = getattr(instance, self.currency_attribute, None)
        if currency:
            self.context["currency"] = currency  # type: ignore[attr-defined]
        return super().to_representation(instance)  # type: ignore[misc]
