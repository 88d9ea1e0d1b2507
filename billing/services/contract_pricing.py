"""A contract phase's prices: the plan's list prices with the phase's overrides, plus its fees.

``phase_specs`` is the one place an override turns into a price; the admin's preview rates its output
with the pricing engine, and approval saves it as a private plan version (``phase_version_create``)
that billing rates like any other, so the preview and the real invoices cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billing.models import (
    BillingTiming,
    Contract,
    ContractPhase,
    Entitlement,
    Feature,
    FeatureKind,
    Plan,
    PlanVersion,
    Price,
    PriceModel,
    PriceTier,
)
from billing.pricing import PriceModel as SpecModel
from billing.pricing import PriceSpec, Tier
from billing.pricing.overrides import apply_override
from billing.services.catalog import price_spec
from billing.services.contract_terms import FeeDraft, OverrideDraft


@dataclass(frozen=True)
class PhasePrice:
    """One price of a phase: the list price it comes from (None for a phase fee) and what it charges."""

    code: str
    description: str
    billing: str
    metric_id: int | None
    spec: PriceSpec
    source: Price | None
    overridden: bool = False


def phase_specs(
    *, prices: list[Price], overrides: tuple[OverrideDraft, ...], fees: tuple[FeeDraft, ...]
) -> list[PhasePrice]:
    by_code = {o.price: o for o in overrides}
    out: list[PhasePrice] = []
    for price in prices:
        spec = price_spec(price)
        override = by_code.get(price.code)
        if override is not None:
            spec = apply_override(spec, override.as_override())
        out.append(
            PhasePrice(
                code=price.code,
                description=price.description,
                billing=price.billing,
                metric_id=price.metric_id,
                spec=spec,
                source=price,
                overridden=override is not None,
            )
        )
    for fee in fees:
        out.append(
            PhasePrice(
                code=fee.code,
                description=fee.description or fee.code.replace("-", " ").replace("_", " ").capitalize(),
                billing=BillingTiming.IN_ADVANCE,
                metric_id=None,
                spec=PriceSpec(model=SpecModel.FLAT, amount=fee.amount),
                source=None,
                overridden=True,
            )
        )
    return out


def phase_drafts(phase: ContractPhase) -> tuple[tuple[OverrideDraft, ...], tuple[FeeDraft, ...]]:
    """A saved phase's overrides and fees as drafts."""
    overrides = tuple(
        OverrideDraft(
            price=o.price_code,
            unit_amount=o.unit_amount,
            tiers=tuple(
                Tier(
                    None if t.get("up_to") is None else Decimal(str(t["up_to"])),
                    Decimal(str(t["unit_amount"])),
                    Decimal(str(t.get("flat_amount") or 0)),
                )
                for t in o.tiers
            )
            if o.tiers is not None
            else None,
            percent_off=o.percent_off,
        )
        for o in phase.overrides.all()
    )
    fees = tuple(
        FeeDraft(code=f["code"], amount=Decimal(str(f["amount"])), description=f.get("description", ""))
        for f in phase.fees
    )
    return overrides, fees


PRIVATE_PLAN_MARK = "-contract-"


def is_contract_plan_version(version: PlanVersion) -> bool:
    """Whether ``version`` holds a contract phase's prices (a private plan: ``premium-contract-7``)."""
    return PRIVATE_PLAN_MARK in version.plan.code and not version.plan.is_active


def _private_plan(contract: Contract) -> Plan:
    """The contract's own plan (never sold: inactive), holding one version per priced phase."""
    base = contract.plan
    code = f"{base.code}{PRIVATE_PLAN_MARK}{contract.family_id or contract.pk}"[:100]
    plan, _ = Plan.objects.get_or_create(
        code=code,
        defaults={
            "name": base.name,
            "product": base.product,
            "description": f"Prices of contract #{contract.family_id or contract.pk} (not sold).",
            "is_active": False,
        },
    )
    return plan


def phase_version_create(*, contract: Contract, phase: ContractPhase) -> PlanVersion:
    """Save ``phase``'s prices as a new version of the contract's private plan (with entitlements)."""
    base = contract.plan_version
    plan = _private_plan(contract)
    number = (plan.versions.order_by("-version").values_list("version", flat=True).first() or 0) + 1
    version = PlanVersion.objects.create(
        plan=plan,
        version=number,
        name=base.name,
        currency=base.currency,
        interval=base.interval,
        interval_count=base.interval_count,
        trial_days=0,
        created_by=contract.created_by,
    )
    overrides, fees = phase_drafts(phase)
    list_prices = list(
        base.prices.select_related("metric").prefetch_related("tiers").order_by("position", "id")
    )
    for position, item in enumerate(phase_specs(prices=list_prices, overrides=overrides, fees=fees)):
        spec = item.spec
        price = Price.objects.create(
            plan_version=version,
            code=item.code,
            description=item.description,
            position=position,
            model=PriceModel(spec.model.value),
            billing=item.billing,
            metric_id=item.metric_id,
            amount=spec.amount,
            unit_amount=spec.unit_amount,
            package_size=spec.package_size,
            package_amount=spec.package_amount,
            percent=spec.percent,
            minimum_amount=spec.minimum_amount,
            maximum_amount=spec.maximum_amount,
        )
        PriceTier.objects.bulk_create(
            PriceTier(
                price=price, position=i, up_to=t.up_to, unit_amount=t.unit_amount, flat_amount=t.flat_amount
            )
            for i, t in enumerate(spec.tiers)
        )
    values = {e.feature_id: e.value for e in base.entitlements.all()}
    for key, value in contract.entitlements.items():
        kind = FeatureKind.BOOLEAN if isinstance(value, bool) else FeatureKind.LIMIT
        feature, _ = Feature.objects.get_or_create(
            key=key, defaults={"name": key.replace("_", " "), "kind": kind}
        )
        values[feature.pk] = value
    Entitlement.objects.bulk_create(
        Entitlement(plan_version=version, feature_id=fid, value=value) for fid, value in values.items()
    )
    phase.plan_version = version
    phase.save(update_fields=["plan_version"])
    return version
