"""How a contract reads on the sales and finance screens: its terms in words, the diff against the
version before (version 1: against the plan's list prices), and the preview rows."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billing.contract_selectors import previous_version
from billing.display import EMPTY, format_money, price_charge
from billing.models import Contract, PlanVersion
from billing.services.contract_preview import PhasePreview, contract_preview
from billing.services.contract_terms import ContractDraft, OverrideDraft
from billing.services.contracts import contract_as_draft


@dataclass(frozen=True)
class DiffRow:
    label: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _money(value: Decimal | None, currency: str) -> str:
    return EMPTY if value is None else format_money(value, currency)


def _override(o: OverrideDraft | None, currency: str) -> str:
    if o is None:
        return "list price"
    if o.unit_amount is not None:
        return format_money(o.unit_amount, currency)
    if o.percent_off is not None:
        return f"{o.percent_off.normalize():f}% off list"
    return "custom tiers"


def _day(value: Any) -> str:
    return value.strftime("%-d %b %Y") if value else EMPTY


def terms_rows(draft: ContractDraft, version: PlanVersion, currency: str) -> dict[str, str]:
    """Every term as label -> text; two versions' rows side by side make the diff."""
    rows: dict[str, str] = {
        "Start": _day(draft.start),
        "End": _day(draft.end) if draft.end else "open-ended",
        "Seats": f"{draft.quantity.normalize():f}",
        "Minimum commitment per period": _money(draft.commitment, currency),
    }
    prices = list(version.prices.prefetch_related("tiers").order_by("position", "id"))
    for i, phase in enumerate(draft.effective_phases(), start=1):
        rows[f"Phase {i} starts"] = _day(phase.start)
        by_code = {o.price: o for o in phase.overrides}
        for price in prices:
            rows[f"Phase {i} · {price.description or price.code}"] = _override(
                by_code.get(price.code), currency
            )
        for fee in phase.fees:
            rows[f"Phase {i} · fee {fee.description or fee.code}"] = format_money(fee.amount, currency)
    for i, credit in enumerate(draft.credits, start=1):
        expiry = f", expires {_day(credit.expires_at)}" if credit.expires_at else ""
        rows[f"Credit {i}"] = f"{format_money(credit.amount, currency)} (priority {credit.priority}{expiry})"
    for one_off in draft.one_off_fees:
        rows[f"One-off · {one_off.description}"] = format_money(one_off.amount, currency)
    for key, value in sorted(draft.entitlements.items()):
        rows[f"Entitlement · {key}"] = "unlimited" if value is None else str(value).lower()
    return rows


def list_price_rows(version: PlanVersion, draft: ContractDraft) -> dict[str, str]:
    """What version 1 is compared with: the plan's list prices for every phase row."""
    rows: dict[str, str] = {}
    prices = list(version.prices.prefetch_related("tiers").order_by("position", "id"))
    for i, _phase in enumerate(draft.effective_phases(), start=1):
        for price in prices:
            rows[f"Phase {i} · {price.description or price.code}"] = f"list: {price_charge(price)}"
    return rows


def contract_diff(contract: Contract) -> tuple[str, list[DiffRow]]:
    """(what it is compared with, rows): the version before, or the plan's list prices."""
    draft = contract_as_draft(contract)
    after = terms_rows(draft, contract.plan_version, contract.currency)
    prev = previous_version(contract)
    if prev is None:
        before = list_price_rows(contract.plan_version, draft)
        basis = f"the plan's list prices ({contract.plan_version})"
    else:
        prev_draft = contract_as_draft(prev)
        before = terms_rows(prev_draft, prev.plan_version, prev.currency)
        basis = f"version {prev.version}"
    labels = list(dict.fromkeys([*after, *before]))
    return basis, [DiffRow(label, before.get(label, EMPTY), after.get(label, EMPTY)) for label in labels]


def contract_previews(contract: Contract) -> list[dict[str, Any]]:
    previews = contract_preview(
        draft=contract_as_draft(contract), customer=contract.customer, version=contract.plan_version
    )
    return present(previews, contract.currency)


def present(previews: list[PhasePreview], currency: str) -> list[dict[str, Any]]:
    """The previews with every amount as it reads on an invoice (``format_money``)."""
    return [
        {
            "number": p.number,
            "start": p.period.start,
            "end": p.period.end,
            "lines": [
                {
                    "description": line.description,
                    "unit": "" if line.unit_amount is None else format_money(line.unit_amount, currency),
                    "amount": format_money(line.amount, currency),
                    "overridden": line.overridden,
                }
                for line in p.lines
            ],
            "tax": format_money(p.tax, currency),
            "total": format_money(p.total, currency),
            "credits": format_money(p.credits_applied, currency),
            "due": format_money(p.amount_due, currency),
            "usage": [
                f"{name} at {'contract' if item.overridden else 'list'} price"
                for name, item in p.usage_prices
            ],
            "commitment": None if p.commitment is None else format_money(p.commitment, currency),
        }
        for p in previews
    ]
