"""What a subscription's fixed prices charge for a period: in-advance fees and their prorations.

Reads prices (tiers prefetched) and returns the engine's rated lines; invoicing turns them into invoice
lines. Usage prices (with a metric) are rated by invoicing from aggregated usage.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from billing.models import BillingTiming, PlanVersion, Price, PriceModel
from billing.pricing import Period, RatedLine, rate_price
from billing.services.catalog import price_spec


def is_licensed(price: Price) -> bool:
    """A fixed price (not usage): billed on the subscription's quantity, or once for flat prices."""
    return price.metric_id is None


def licensed_quantity(price: Price, seats: Decimal) -> Decimal:
    return Decimal(1) if price.model == PriceModel.FLAT else seats


def fmt_date(moment: datetime, zone: object) -> str:
    local = moment.astimezone(zone)  # type: ignore[arg-type]
    return f"{local.day} {local:%b} {local.year}"


def describe(price: Price, plan_name: str, quantity: Decimal) -> str:
    label = price.description or f"{plan_name} — {price.code.replace('-', ' ')}"
    if price.model == PriceModel.FLAT:
        return label
    return f"{label} × {quantity.normalize():f}"


def fee_lines(
    *,
    prices: Iterable[Price],
    plan_name: str,
    seats: Decimal,
    currency: str,
    period: Period,
    fraction: Fraction = Fraction(1),
    timing: str = BillingTiming.IN_ADVANCE,
    kind: str = "subscription",
) -> list[tuple[Price, RatedLine]]:
    """The fixed-price lines (``timing``) for ``period``, each scaled by ``fraction`` and rounded once."""
    out: list[tuple[Price, RatedLine]] = []
    for price in prices:
        if not is_licensed(price) or price.billing != timing:
            continue
        quantity = licensed_quantity(price, seats)
        line = rate_price(
            spec=price_spec(price),
            quantity=quantity,
            currency=currency,
            description=describe(price, plan_name, quantity),
            kind=kind,
            period=period,
            fraction=fraction,
        )
        out.append((price, line))
    return out


def prices_of(version: PlanVersion) -> list[Price]:
    return list(version.prices.select_related("metric").prefetch_related("tiers").order_by("position", "id"))
