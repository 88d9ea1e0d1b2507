"""The deal screen's form: flat HTML field names <-> a ``ContractDraft`` (the API's shape).

One screen for a whole deal. Phases, fees, credits and one-off fees are fixed numbers of slots (an
empty slot is ignored) so the page works without JavaScript; dates are days in the customer's time
zone. Tiered overrides are API-only; here a price is kept at list, set to a unit amount, or a percent off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.http import QueryDict
from django.utils.text import slugify

from accounts.models import Customer
from billing.models import Feature, PlanVersion, Price
from billing.services.contract_terms import (
    ContractDraft,
    CreditDraft,
    FeeDraft,
    OneOffDraft,
    OverrideDraft,
    PhaseDraft,
)
from config.errors import FieldError

PHASES, FEES, CREDITS, ONE_OFFS = 3, 2, 3, 2


@dataclass
class Parsed:
    draft: ContractDraft | None
    errors: list[FieldError] = field(default_factory=list)


def _day(raw: str, zone: ZoneInfo) -> datetime | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    day = date.fromisoformat(raw)
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def _amount(raw: str) -> Decimal | None:
    raw = (raw or "").strip().replace(",", "")
    return Decimal(raw) if raw else None


def _value(raw: str) -> Any:
    raw = raw.strip().lower()
    if raw in {"true", "yes", "on"}:
        return True
    if raw in {"false", "no", "off"}:
        return False
    if raw in {"unlimited", "none"}:
        return None
    return int(raw)


def parse(data: QueryDict, customer: Customer, version: PlanVersion) -> Parsed:
    """The posted form as a draft; a value that does not parse is an error naming its field."""
    errors: list[FieldError] = []
    zone = ZoneInfo(customer.timezone)

    def get(name: str, convert: Any, where: str) -> Any:
        try:
            return convert(data.get(name, ""))
        except (ValueError, InvalidOperation):
            errors.append(FieldError(where, f"{data.get(name)!r} is not valid here."))
            return None

    start = get("start", lambda v: _day(v, zone), "start")
    if start is None:
        errors.append(FieldError("start", "Say when the contract starts."))
        return Parsed(None, errors)
    prices: list[Price] = list(version.prices.order_by("position", "id"))
    phases: list[PhaseDraft] = []
    for i in range(PHASES):
        phase_start = (
            start if i == 0 else get(f"phase-{i}-start", lambda v: _day(v, zone), f"phases[{i}].start")
        )
        if phase_start is None:
            continue
        overrides = []
        for price in prices:
            mode = data.get(f"phase-{i}-price-{price.code}-mode", "")
            value = get(f"phase-{i}-price-{price.code}-value", _amount, f"phases[{i}].overrides.{price.code}")
            if mode and value is not None:
                overrides.append(
                    OverrideDraft(price=price.code, unit_amount=value)
                    if mode == "unit"
                    else OverrideDraft(price=price.code, percent_off=value)
                )
        fees = []
        for k in range(FEES):
            label = data.get(f"phase-{i}-fee-{k}-description", "").strip()
            amount = get(f"phase-{i}-fee-{k}-amount", _amount, f"phases[{i}].fees[{k}].amount")
            if label and amount is not None:
                fees.append(
                    FeeDraft(code=slugify(label)[:100] or f"fee-{k}", amount=amount, description=label)
                )
        phases.append(PhaseDraft(start=phase_start, overrides=tuple(overrides), fees=tuple(fees)))
    credits = []
    for k in range(CREDITS):
        amount = get(f"credit-{k}-amount", _amount, f"credits[{k}].amount")
        if amount is not None:
            credits.append(
                CreditDraft(
                    amount=amount,
                    expires_at=get(
                        f"credit-{k}-expires", lambda v: _day(v, zone), f"credits[{k}].expires_at"
                    ),
                    priority=get(f"credit-{k}-priority", lambda v: int(v or 1), f"credits[{k}].priority")
                    or 1,
                )
            )
    one_offs = []
    for k in range(ONE_OFFS):
        label = data.get(f"oneoff-{k}-description", "").strip()
        amount = get(f"oneoff-{k}-amount", _amount, f"one_off_fees[{k}].amount")
        if label and amount is not None:
            one_offs.append(OneOffDraft(description=label, amount=amount))
    entitlements = {}
    for name in data:
        if name.startswith("ent-") and data.get(name, "").strip():
            key = name[4:]
            entitlements[key] = get(name, _value, f"entitlements.{key}")
    draft = ContractDraft(
        customer=customer.external_id,
        plan=version.plan.code,
        start=start,
        end=get("end", lambda v: _day(v, zone), "end"),
        quantity=get("quantity", lambda v: Decimal(v or "1"), "quantity") or Decimal(1),
        net_terms_days=get("net_terms_days", lambda v: int(v) if v.strip() else None, "net_terms_days"),
        phases=tuple(phases),
        commitment=get("commitment", _amount, "commitment.amount"),
        credits=tuple(credits),
        one_off_fees=tuple(one_offs),
        entitlements=entitlements,
        notes=data.get("notes", ""),
    )
    return Parsed(draft if not errors else None, errors)


def initial(draft: ContractDraft, zone: ZoneInfo) -> dict[str, str]:
    """The form values that show ``draft`` (for editing a saved draft)."""

    def day(value: datetime | None) -> str:
        return value.astimezone(zone).date().isoformat() if value else ""

    values: dict[str, str] = {
        "start": day(draft.start),
        "end": day(draft.end),
        "quantity": f"{draft.quantity.normalize():f}",
        "net_terms_days": "" if draft.net_terms_days is None else str(draft.net_terms_days),
        "commitment": "" if draft.commitment is None else f"{draft.commitment.normalize():f}",
        "notes": draft.notes,
    }
    for i, phase in enumerate(draft.phases[:PHASES]):
        values[f"phase-{i}-start"] = day(phase.start)
        for o in phase.overrides:
            mode, value = ("unit", o.unit_amount) if o.unit_amount is not None else ("percent", o.percent_off)
            values[f"phase-{i}-price-{o.price}-mode"] = mode
            values[f"phase-{i}-price-{o.price}-value"] = f"{value.normalize():f}" if value is not None else ""
        for k, fee in enumerate(phase.fees[:FEES]):
            values[f"phase-{i}-fee-{k}-description"] = fee.description or fee.code
            values[f"phase-{i}-fee-{k}-amount"] = f"{fee.amount.normalize():f}"
    for k, credit in enumerate(draft.credits[:CREDITS]):
        values[f"credit-{k}-amount"] = f"{credit.amount.normalize():f}"
        values[f"credit-{k}-expires"] = day(credit.expires_at)
        values[f"credit-{k}-priority"] = str(credit.priority)
    for k, one_off in enumerate(draft.one_off_fees[:ONE_OFFS]):
        values[f"oneoff-{k}-description"] = one_off.description
        values[f"oneoff-{k}-amount"] = f"{one_off.amount.normalize():f}"
    for key, value in draft.entitlements.items():
        values[f"ent-{key}"] = "unlimited" if value is None else str(value).lower()
    return values


def features_of(version: PlanVersion) -> list[tuple[Feature, Any]]:
    return [
        (e.feature, e.value) for e in version.entitlements.select_related("feature").order_by("feature__key")
    ]


_INDEX = re.compile(r"(phases|credits|one_off_fees)\[(\d+)\]")
_NAMES = {"phases": "Phase", "credits": "Credit", "one_off_fees": "One-off fee"}


def field_label(name: str | None) -> str:
    """``phases[1].start`` -> ``Phase 2 · start`` (how a sales person reads an error)."""
    if not name:
        return "Deal"
    text = _INDEX.sub(lambda m: f"{_NAMES[m.group(1)]} {int(m.group(2)) + 1}", name)
    return text.replace(".", " · ").replace("_", " ")
