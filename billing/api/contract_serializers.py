"""Contract request and response shapes (API.md, Contracts). Requests become a ``ContractDraft``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from billing.api.subscription_views import MAX_QUANTITY, WhenField
from billing.models import Contract
from billing.pricing import Tier
from billing.services.contract_terms import (
    ContractDraft,
    CreditDraft,
    FeeDraft,
    OneOffDraft,
    OverrideDraft,
    PhaseDraft,
)
from config.api.fields import AmountField, format_amount

MAX_AMOUNT = Decimal("1e15")


def amount(**kwargs: Any) -> AmountField:
    return AmountField(min_value=Decimal(0), max_value=MAX_AMOUNT, **kwargs)


def when(**kwargs: Any) -> WhenField:
    return WhenField(allow_period_end=False, **kwargs)


class ContractTierIn(serializers.Serializer):
    up_to = serializers.DecimalField(max_digits=28, decimal_places=12, allow_null=True, min_value=Decimal(0))
    unit_amount = amount()
    flat_amount = amount(required=False, default=Decimal(0))


class OverrideIn(serializers.Serializer):
    price = serializers.SlugField(max_length=100)
    unit_amount = amount(required=False, allow_null=True, default=None)
    # a ListField: ``allow_null`` is the list's, never its items' (a null tier is a 400, not a crash)
    tiers = serializers.ListField(child=ContractTierIn(), required=False, allow_null=True, default=None)
    percent_off = serializers.DecimalField(
        max_digits=7,
        decimal_places=4,
        min_value=Decimal(0),
        max_value=Decimal(100),
        required=False,
        allow_null=True,
        default=None,
    )


class FeeIn(serializers.Serializer):
    code = serializers.SlugField(max_length=100)
    description = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)
    amount = amount()


class PhaseIn(serializers.Serializer):
    start = when()
    overrides = OverrideIn(many=True, required=False, default=list)
    fees = FeeIn(many=True, required=False, default=list)


class CommitmentIn(serializers.Serializer):
    amount = amount()


class CreditIn(serializers.Serializer):
    amount = amount()
    expires_at = when(required=False, allow_null=True, default=None)
    priority = serializers.IntegerField(min_value=0, max_value=1000, required=False, default=1)


class OneOffIn(serializers.Serializer):
    description = serializers.CharField(max_length=255)
    amount = amount()


class ContractIn(serializers.Serializer):
    customer = serializers.CharField(max_length=255)
    plan = serializers.SlugField(max_length=100)
    currency = serializers.CharField(max_length=3, required=False, allow_null=True, default=None)
    start = when()
    end = when(required=False, allow_null=True, default=None)
    quantity = serializers.DecimalField(
        max_digits=20,
        decimal_places=6,
        min_value=Decimal(0),
        max_value=MAX_QUANTITY,
        required=False,
        default=Decimal(1),
    )
    net_terms_days = serializers.IntegerField(
        min_value=0, max_value=365, required=False, allow_null=True, default=None
    )
    phases = PhaseIn(many=True, required=False, default=list)
    commitment = CommitmentIn(required=False, allow_null=True, default=None)
    credits = CreditIn(many=True, required=False, default=list)
    one_off_fees = OneOffIn(many=True, required=False, default=list)
    entitlements = serializers.DictField(required=False, default=dict)
    notes = serializers.CharField(required=False, default="", allow_blank=True, max_length=10_000)


class AmendIn(ContractIn):
    customer = serializers.CharField(max_length=255, required=False, default="")
    plan = serializers.SlugField(max_length=100, required=False, default="")
    start = when(required=False, default=None)
    effective_at = when()


class ContractOut(serializers.Serializer):
    """The response shape (documentation: the body is built by ``contract_body``)."""

    id = serializers.IntegerField()
    family = serializers.IntegerField()
    version = serializers.IntegerField()
    customer = serializers.CharField()
    plan = serializers.CharField()
    status = serializers.CharField()
    currency = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(allow_null=True)
    effective_at = serializers.DateTimeField(allow_null=True)
    quantity = serializers.CharField()
    net_terms_days = serializers.IntegerField(allow_null=True)
    phases = serializers.JSONField()
    commitment = serializers.JSONField(allow_null=True)
    credits = serializers.JSONField()
    one_off_fees = serializers.JSONField()
    entitlements = serializers.JSONField()
    notes = serializers.CharField()
    subscription = serializers.IntegerField(allow_null=True)
    approval_steps = serializers.JSONField()
    versions = serializers.JSONField(required=False)
    latest_invoice = serializers.JSONField(required=False, allow_null=True)
    created_at = serializers.DateTimeField()


def draft_from(
    data: dict[str, Any], base: ContractDraft | None = None, given: set[str] | None = None
) -> ContractDraft:
    """The validated body as a draft; for an amendment, fields not ``given`` keep ``base``'s values."""
    phases = tuple(
        PhaseDraft(
            start=p["start"],
            overrides=tuple(
                OverrideDraft(
                    price=o["price"],
                    unit_amount=o["unit_amount"],
                    tiers=tuple(Tier(t["up_to"], t["unit_amount"], t["flat_amount"]) for t in o["tiers"])
                    if o["tiers"] is not None
                    else None,
                    percent_off=o["percent_off"],
                )
                for o in p["overrides"]
            ),
            fees=tuple(
                FeeDraft(code=f["code"], amount=f["amount"], description=f["description"]) for f in p["fees"]
            ),
        )
        for p in data["phases"]
    )
    fields: dict[str, Any] = {
        "customer": data["customer"],
        "plan": data["plan"],
        "currency": data["currency"],
        "start": data["start"],
        "end": data["end"],
        "quantity": data["quantity"],
        "net_terms_days": data["net_terms_days"],
        "phases": phases,
        "commitment": data["commitment"]["amount"] if data["commitment"] else None,
        "credits": tuple(
            CreditDraft(amount=c["amount"], expires_at=c["expires_at"], priority=c["priority"])
            for c in data["credits"]
        ),
        "one_off_fees": tuple(
            OneOffDraft(description=f["description"], amount=f["amount"]) for f in data["one_off_fees"]
        ),
        "entitlements": dict(data["entitlements"]),
        "notes": data["notes"],
        "effective_at": data.get("effective_at"),
    }
    if base is None:
        return ContractDraft(**fields)
    kept = {k: v for k, v in fields.items() if k in (given or set()) or k == "effective_at"}
    if "commitment" in (given or set()):
        kept["commitment"] = fields["commitment"]
    merged = {**base.__dict__, "credits": (), "one_off_fees": (), **kept}
    return ContractDraft(**merged)


def contract_body(contract: Contract, versions: list[Contract] | None = None) -> dict[str, Any]:
    cur = contract.currency

    def money(value: Any) -> str | None:
        return format_amount(Decimal(str(value)), cur) if value is not None else None

    body: dict[str, Any] = {
        "id": contract.pk,
        "family": contract.family_id,
        "version": contract.version,
        "customer": contract.customer.external_id,
        "plan": contract.plan.code,
        "status": contract.status,
        "currency": cur,
        "start": contract.start,
        "end": contract.end,
        "effective_at": contract.effective_at,
        "quantity": f"{Decimal(contract.quantity).normalize():f}",
        "net_terms_days": contract.net_terms_days,
        "phases": [
            {
                "start": p.start,
                "overrides": [
                    {
                        "price": o.price_code,
                        "unit_amount": money(o.unit_amount),
                        "tiers": o.tiers,
                        "percent_off": None if o.percent_off is None else f"{o.percent_off.normalize():f}",
                    }
                    for o in p.overrides.all()
                ],
                "fees": [{**f, "amount": money(f["amount"])} for f in p.fees],
            }
            for p in contract.phases.all()
        ],
        "commitment": {"amount": money(contract.commitment_amount)}
        if contract.commitment_amount is not None
        else None,
        "credits": [
            {"id": g.pk, "amount": money(g.amount), "expires_at": g.expires_at, "priority": g.priority}
            for g in contract.credit_grants.all()
        ],
        "one_off_fees": [{**f, "amount": money(f["amount"])} for f in contract.one_off_fees],
        "entitlements": contract.entitlements,
        "notes": contract.notes,
        "subscription": contract.subscription_id,
        "approval_steps": steps(contract),
        "created_at": contract.created_at,
    }
    if versions is not None:
        body["versions"] = [
            {
                "id": v.pk,
                "version": v.version,
                "status": v.status,
                "effective_at": v.effective_at,
                "approval_steps": steps(v),
            }
            for v in versions
        ]
    return body


def steps(contract: Contract) -> list[dict[str, Any]]:
    return [
        {"action": s.action, "user": s.user.username if s.user else None, "at": s.at, "comment": s.comment}
        for s in contract.approval_steps.all()
    ]
