"""The first invoice of each phase of a contract draft, rated by the pricing engine (no writes).

The same path as real invoices: ``phase_specs`` gives the prices approval will save, ``rate_price``
rates each (as ``subscription_charges.fee_lines`` does for a subscription), tax by ``line_tax``, the
totals by ``invoice_totals`` and the credit drawn by the ledger's rule (lowest priority number, then
soonest expiry; expired never). Usage is billed in arrears from what is measured, so the preview lists
the usage prices instead of guessing usage; the commitment says what a period must reach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from accounts.models import Customer
from billing.models import BillingTiming, PlanVersion, PriceModel
from billing.pricing import LineAmounts, Period, invoice_totals, line_tax, rate_price
from billing.pricing.money import round_amount
from billing.services.contract_pricing import PhasePrice, phase_specs
from billing.services.contract_terms import ContractDraft
from billing.services.subscription_periods import Schedule, period_at_index

ZERO = Decimal(0)


@dataclass(frozen=True)
class PreviewLine:
    description: str
    kind: str
    quantity: Decimal
    unit_amount: Decimal | None
    amount: Decimal
    overridden: bool = False


@dataclass
class PhasePreview:
    number: int
    period: Period
    lines: list[PreviewLine] = field(default_factory=list)
    usage_prices: list[tuple[str, PhasePrice]] = field(default_factory=list)
    subtotal: Decimal = ZERO
    tax: Decimal = ZERO
    total: Decimal = ZERO
    credits_applied: Decimal = ZERO
    amount_due: Decimal = ZERO
    commitment: Decimal | None = None


def _period(customer: Customer, version: PlanVersion, start: datetime) -> Period:
    schedule = Schedule(
        anchor_kind=customer.billing_anchor,
        anchor_at=start,
        timezone=customer.timezone,
        interval=version.interval,
        interval_count=version.interval_count,
    )
    return period_at_index(schedule, 0)


def _credit_for(draft: ContractDraft, at: datetime, total: Decimal, used: Decimal) -> Decimal:
    usable = sum((c.amount for c in draft.credits if c.expires_at is None or c.expires_at > at), ZERO)
    return max(min(usable - used, total), ZERO)


def contract_preview(*, draft: ContractDraft, customer: Customer, version: PlanVersion) -> list[PhasePreview]:
    prices = list(
        version.prices.select_related("metric").prefetch_related("tiers").order_by("position", "id")
    )
    currency = customer.currency
    rate = Decimal(customer.tax_rate_percent)
    out: list[PhasePreview] = []
    credit_used = ZERO
    for number, phase in enumerate(draft.effective_phases(), start=1):
        period = _period(customer, version, phase.start)
        preview = PhasePreview(number=number, period=period, commitment=draft.commitment)
        for item in phase_specs(prices=prices, overrides=phase.overrides, fees=phase.fees):
            if item.metric_id is not None:
                preview.usage_prices.append(
                    (item.source.metric.name if item.source and item.source.metric else item.code, item)
                )
                continue
            if item.billing != BillingTiming.IN_ADVANCE:
                continue
            quantity = Decimal(1) if item.spec.model.value == PriceModel.FLAT else draft.quantity
            label = item.description or f"{version.name} — {item.code}"
            rated = rate_price(
                spec=item.spec,
                quantity=quantity,
                currency=currency,
                description=label
                if quantity == 1 and item.spec.model.value == PriceModel.FLAT
                else f"{label} × {quantity.normalize():f}",
                kind="subscription",
                period=period,
            )
            preview.lines.append(
                PreviewLine(
                    rated.description,
                    "subscription",
                    rated.quantity,
                    rated.unit_amount,
                    rated.amount,
                    item.overridden,
                )
            )
        if number == 1:
            for fee in draft.one_off_fees:
                amount = round_amount(fee.amount, currency)
                preview.lines.append(
                    PreviewLine(fee.description, "one_off", Decimal(1), fee.amount, amount, True)
                )
        taxed = [
            LineAmounts(
                amount=line.amount, tax=line_tax(amount=line.amount, rate_percent=rate, currency=currency)
            )
            for line in preview.lines
        ]
        total = sum((t.amount + t.tax for t in taxed), ZERO)
        credits = _credit_for(draft, phase.start, total, credit_used)
        totals = invoice_totals(lines=taxed, credits_available=credits, amount_paid=ZERO, currency=currency)
        credit_used += totals.credits_applied
        preview.subtotal, preview.tax, preview.total = totals.subtotal, totals.tax, totals.total
        preview.credits_applied, preview.amount_due = totals.credits_applied, totals.amount_due
        out.append(preview)
    return out
