"""A contract's terms as the API and the admin describe them, and the checks they must pass.

Both faces build a ``ContractDraft``; ``contract_draft_check`` validates it as a whole and raises one
``ValidationFailed`` naming every bad field (``phases[1].start``, ``phases[0].overrides[0].price``), so
a bad deal writes nothing. The overlap rule: no two active contracts of the same customer and plan may
cover the same time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from accounts.models import Customer
from billing.models import Contract, ContractStatus, PlanVersion, Price
from billing.pricing.errors import PricingError
from billing.pricing.overrides import PriceOverride, override_error
from billing.pricing.price_spec import Tier, validate_price
from billing.services.catalog import FEATURE_KEY, price_spec
from config.errors import ErrorCode, FieldError, ValidationFailed

FAR_FUTURE = datetime(2999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class OverrideDraft:
    price: str
    unit_amount: Decimal | None = None
    tiers: tuple[Tier, ...] | None = None
    percent_off: Decimal | None = None

    def as_override(self) -> PriceOverride:
        return PriceOverride(unit_amount=self.unit_amount, tiers=self.tiers, percent_off=self.percent_off)


@dataclass(frozen=True)
class FeeDraft:
    code: str
    amount: Decimal
    description: str = ""


@dataclass(frozen=True)
class PhaseDraft:
    start: datetime
    overrides: tuple[OverrideDraft, ...] = ()
    fees: tuple[FeeDraft, ...] = ()


@dataclass(frozen=True)
class CreditDraft:
    amount: Decimal
    expires_at: datetime | None = None
    priority: int = 1


@dataclass(frozen=True)
class OneOffDraft:
    description: str
    amount: Decimal


@dataclass(frozen=True)
class ContractDraft:
    customer: str
    plan: str
    start: datetime
    end: datetime | None = None
    quantity: Decimal = Decimal(1)
    net_terms_days: int | None = None
    phases: tuple[PhaseDraft, ...] = ()
    commitment: Decimal | None = None
    credits: tuple[CreditDraft, ...] = ()
    one_off_fees: tuple[OneOffDraft, ...] = ()
    entitlements: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    currency: str | None = None
    effective_at: datetime | None = None

    def effective_phases(self) -> tuple[PhaseDraft, ...]:
        """No phases given: one phase at list prices from the start."""
        return self.phases or (PhaseDraft(start=self.start),)


@dataclass(frozen=True)
class CheckedDraft:
    customer: Customer
    plan_version: PlanVersion
    prices: dict[str, Price]


def _plan_version(code: str) -> PlanVersion | None:
    return (
        PlanVersion.objects.select_related("plan")
        .filter(plan__code=code, plan__is_active=True)
        .order_by("-version")
        .first()
    )


def overlapping_active(
    *, customer: Customer, plan_id: int, start: datetime, end: datetime | None, family_id: int | None
) -> Contract | None:
    """An active contract of the same customer and plan (another family) whose dates meet these."""
    qs = Contract.objects.filter(
        customer=customer, plan_id=plan_id, status=ContractStatus.ACTIVE, start__lt=end or FAR_FUTURE
    )
    if family_id is not None:
        qs = qs.exclude(family_id=family_id)
    for other in qs:
        if other.end is None or other.end > start:
            return other
    return None


def _check_phases(draft: ContractDraft, prices: dict[str, Price], errors: list[FieldError]) -> None:
    phases = draft.effective_phases()
    if draft.phases and phases[0].start != draft.start:
        errors.append(FieldError("phases[0].start", "The first phase starts at the contract's start."))
    for i, phase in enumerate(phases):
        if i and phase.start <= phases[i - 1].start:
            errors.append(
                FieldError(f"phases[{i}].start", "Phases must be in order: each starts after the one before.")
            )
        if draft.end is not None and phase.start >= draft.end:
            errors.append(FieldError(f"phases[{i}].start", "A phase must start before the contract ends."))
        seen: set[str] = set()
        for j, override in enumerate(phase.overrides):
            where = f"phases[{i}].overrides[{j}]"
            price = prices.get(override.price)
            if price is None:
                errors.append(
                    FieldError(
                        f"{where}.price",
                        f"The plan has no price {override.price!r}.",
                        ErrorCode.NOT_FOUND,
                    )
                )
                continue
            if override.price in seen:
                errors.append(FieldError(f"{where}.price", f"{override.price!r} is overridden twice."))
            seen.add(override.price)
            spec = price_spec(price)
            problem = override_error(spec, override.as_override())
            if problem:
                errors.append(FieldError(where, problem))
            elif override.tiers is not None:
                try:
                    validate_price(spec.__class__(model=spec.model, tiers=override.tiers))
                except PricingError as err:
                    errors.append(FieldError(f"{where}.{err.field}", err.message, ErrorCode.TIERS_INVALID))
        codes: set[str] = set()
        for j, fee in enumerate(phase.fees):
            where = f"phases[{i}].fees[{j}]"
            if not FEATURE_KEY.fullmatch(fee.code or ""):
                errors.append(FieldError(f"{where}.code", "Letters, digits, - and _ only."))
            elif fee.code in prices or fee.code in codes:
                errors.append(FieldError(f"{where}.code", f"{fee.code!r} is already a price of this phase."))
            codes.add(fee.code)
            if fee.amount < 0:
                errors.append(
                    FieldError(f"{where}.amount", "Must not be negative.", ErrorCode.NEGATIVE_AMOUNT)
                )


def _check_money(draft: ContractDraft, errors: list[FieldError]) -> None:
    if draft.commitment is not None and draft.commitment < 0:
        errors.append(FieldError("commitment.amount", "Must not be negative.", ErrorCode.NEGATIVE_AMOUNT))
    for i, credit in enumerate(draft.credits):
        if credit.amount <= 0:
            errors.append(FieldError(f"credits[{i}].amount", "Must be more than zero."))
        if credit.priority < 0:
            errors.append(FieldError(f"credits[{i}].priority", "Must not be negative."))
    for i, fee in enumerate(draft.one_off_fees):
        if not fee.description.strip():
            errors.append(FieldError(f"one_off_fees[{i}].description", "Say what the fee is for."))
        if fee.amount < 0:
            errors.append(FieldError(f"one_off_fees[{i}].amount", "Must not be negative."))
    for key, value in draft.entitlements.items():
        if not FEATURE_KEY.fullmatch(key):
            errors.append(FieldError("entitlements", f"Feature key {key[:100]!r}: letters, digits, - and _."))
        elif not (isinstance(value, bool) or value is None or (isinstance(value, int) and value >= 0)):
            errors.append(
                FieldError(f"entitlements.{key}", "A flag (true/false) or a limit (a whole number).")
            )
    if draft.quantity < 0:
        errors.append(FieldError("quantity", "Must not be negative."))


def contract_draft_check(*, draft: ContractDraft, family_id: int | None = None) -> CheckedDraft:
    """Validate ``draft`` as a whole; raise ``ValidationFailed`` naming every bad field."""
    errors: list[FieldError] = []
    customer = Customer.objects.filter(external_id=draft.customer).first()
    version = _plan_version(draft.plan)
    if customer is None:
        errors.append(FieldError("customer", f"No customer {draft.customer!r}.", ErrorCode.NOT_FOUND))
    if version is None:
        errors.append(FieldError("plan", f"No plan on sale with code {draft.plan!r}.", ErrorCode.NOT_FOUND))
    if customer is not None:
        if draft.currency and draft.currency != customer.currency:
            errors.append(
                FieldError(
                    "currency",
                    f"The customer pays in {customer.currency}, not {draft.currency}.",
                    ErrorCode.CURRENCY_MISMATCH,
                )
            )
        elif version is not None and version.currency != customer.currency:
            errors.append(
                FieldError(
                    "currency",
                    f"Plan {draft.plan!r} is priced in {version.currency}; the customer pays in "
                    f"{customer.currency}.",
                    ErrorCode.CURRENCY_MISMATCH,
                )
            )
    if draft.end is not None and draft.end <= draft.start:
        errors.append(FieldError("end", "The contract must end after it starts."))
    prices = {p.code: p for p in version.prices.prefetch_related("tiers")} if version else {}
    _check_phases(draft, prices, errors)
    _check_money(draft, errors)
    if customer is not None and version is not None and not errors:
        other = overlapping_active(
            customer=customer, plan_id=version.plan_id, start=draft.start, end=draft.end, family_id=family_id
        )
        if other is not None:
            errors.append(
                FieldError(
                    "start",
                    f"Contract #{other.family_id} for this customer and plan is active over these dates.",
                    ErrorCode.CONFLICT,
                )
            )
    if errors:
        raise ValidationFailed(errors[0].message, field=errors[0].field, errors=errors)
    assert customer is not None and version is not None
    return CheckedDraft(customer=customer, plan_version=version, prices=prices)
