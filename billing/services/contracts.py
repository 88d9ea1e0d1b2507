"""Contract workflow writes: draft (sales edits) -> pending approval -> active, or back to draft with a
comment; an amendment is a new version of the same family that goes through the same steps.

Every step is an append-only ``ContractApprovalStep`` (who, when, comment); the rows themselves are
audited by simple-history. Approving is finance's alone: ``contract_approve`` checks the permission
itself, so no face (API, admin form, bulk action) can get round it. What approval does to billing
(subscribe, price the phases, grant the credits) is in ``contract_activation``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from billing.models import (
    ApprovalAction,
    Contract,
    ContractApprovalStep,
    ContractPhase,
    ContractPriceOverride,
    ContractStatus,
    CreditGrant,
)
from billing.services.contract_pricing import phase_drafts
from billing.services.contract_terms import (
    CheckedDraft,
    ContractDraft,
    CreditDraft,
    OneOffDraft,
    PhaseDraft,
    contract_draft_check,
)
from config.errors import Conflict, ErrorCode, NotFound, RatecardError, ValidationFailed

APPROVE_PERMISSION = "billing.approve_contract"


class ApprovalDenied(RatecardError):
    """Only finance approves or rejects: 403, and nothing changes."""

    status = 403


def _actor(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


def may_approve(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_active", False) and user.has_perm(APPROVE_PERMISSION))


def _require_approver(user: Any) -> None:
    if not may_approve(user):
        raise ApprovalDenied(
            "Only finance may approve or reject a contract.", code=ErrorCode.PERMISSION_DENIED
        )


def lock_contract(contract_id: int) -> Contract:
    contract = (
        Contract.objects.select_for_update(of=("self",))
        .select_related("customer", "plan", "plan_version")
        .filter(pk=contract_id)
        .first()
    )
    if contract is None:
        raise NotFound(f"No contract {contract_id}.", field="id")
    return contract


def _state(contract: Contract, *allowed: str, doing: str) -> None:
    if contract.status not in allowed:
        raise Conflict(
            f"Contract #{contract.pk} is {contract.status}; it cannot be {doing}.",
            field="status",
            code=ErrorCode.INVALID_STATE,
        )


def _step(contract: Contract, action: str, user: Any, at: datetime, comment: str = "") -> None:
    ContractApprovalStep.objects.create(
        contract=contract, action=action, user=_actor(user), at=at, comment=comment
    )


def _write_terms(contract: Contract, draft: ContractDraft, checked: CheckedDraft) -> None:
    """(Re)write the phases, overrides and credit grants of a draft contract from ``draft``."""
    contract.phases.all().delete()
    CreditGrant.objects.filter(contract=contract).delete()
    for position, phase in enumerate(draft.effective_phases()):
        row = ContractPhase.objects.create(
            contract=contract,
            position=position,
            start=phase.start,
            fees=[
                {"code": f.code, "description": f.description, "amount": str(f.amount)} for f in phase.fees
            ],
        )
        ContractPriceOverride.objects.bulk_create(
            ContractPriceOverride(
                phase=row,
                price_code=o.price,
                unit_amount=o.unit_amount,
                tiers=[
                    {
                        "up_to": None if t.up_to is None else str(t.up_to),
                        "unit_amount": str(t.unit_amount),
                        "flat_amount": str(t.flat_amount),
                    }
                    for t in o.tiers
                ]
                if o.tiers is not None
                else None,
                percent_off=o.percent_off,
            )
            for o in phase.overrides
        )
    for credit in draft.credits:
        CreditGrant.objects.create(
            contract=contract,
            customer=checked.customer,
            currency=checked.customer.currency,
            amount=credit.amount,
            priority=credit.priority,
            expires_at=credit.expires_at,
            description=f"Prepaid credit (contract #{contract.family_id or contract.pk})",
        )


def _fields(draft: ContractDraft, checked: CheckedDraft) -> dict[str, Any]:
    return {
        "customer": checked.customer,
        "plan": checked.plan_version.plan,
        "plan_version": checked.plan_version,
        "currency": checked.customer.currency,
        "start": draft.start,
        "end": draft.end,
        "effective_at": draft.effective_at,
        "quantity": draft.quantity,
        "net_terms_days": draft.net_terms_days,
        "commitment_amount": draft.commitment,
        "one_off_fees": [{"description": f.description, "amount": str(f.amount)} for f in draft.one_off_fees],
        "entitlements": dict(draft.entitlements),
        "notes": draft.notes,
    }


def contract_create(*, draft: ContractDraft, user: Any = None) -> Contract:
    """A new deal, version 1, as a draft. Nothing bills while it is a draft."""
    checked = contract_draft_check(draft=draft)
    with transaction.atomic():
        contract = Contract.objects.create(**_fields(draft, checked), created_by=_actor(user))
        contract.family = contract
        contract.save(update_fields=["family"])
        _write_terms(contract, draft, checked)
    return contract


def contract_update(*, contract_id: int, draft: ContractDraft, user: Any = None) -> Contract:
    """Sales edits a draft (also after finance sent it back)."""
    with transaction.atomic():
        contract = lock_contract(contract_id)
        _state(contract, ContractStatus.DRAFT, doing="edited (only a draft is)")
        if contract.version > 1:
            draft = replace(draft, customer=contract.customer.external_id, plan=contract.plan.code)
        checked = contract_draft_check(draft=draft, family_id=contract.family_id)
        for name, value in _fields(draft, checked).items():
            setattr(contract, name, value)
        contract.save()
        _write_terms(contract, draft, checked)
    return contract


def _move(
    *, contract_id: int, expected: str, to: str, action: str, user: Any, at: datetime, comment: str
) -> Contract:
    """One workflow step under the contract's row lock: check the state, move it, record who and why."""
    with transaction.atomic():
        contract = lock_contract(contract_id)
        _state(contract, expected, doing=action)
        contract.status = to
        contract.save(update_fields=["status", "updated_at"])
        _step(contract, action, user, at, comment)
    return contract


def contract_submit(*, contract_id: int, user: Any, at: datetime, comment: str = "") -> Contract:
    """Sales (or finance) sends a draft to the approval queue."""
    return _move(
        contract_id=contract_id,
        expected=ContractStatus.DRAFT,
        to=ContractStatus.PENDING_APPROVAL,
        action=ApprovalAction.SUBMITTED,
        user=user,
        at=at,
        comment=comment,
    )


def contract_reject(*, contract_id: int, user: Any, at: datetime, comment: str) -> Contract:
    """Finance sends the contract back to sales with a comment."""
    _require_approver(user)
    return _move(
        contract_id=contract_id,
        expected=ContractStatus.PENDING_APPROVAL,
        to=ContractStatus.DRAFT,
        action=ApprovalAction.REJECTED,
        user=user,
        at=at,
        comment=comment,
    )


def contract_approve_mark(*, contract_id: int, user: Any, at: datetime, comment: str = "") -> Contract:
    """The billing side of approval: permission, state and overlap re-checked under the lock, status
    active, the step recorded. Call inside the activation's transaction (``contract_activation``)."""
    _require_approver(user)
    contract = lock_contract(contract_id)
    _state(contract, ContractStatus.PENDING_APPROVAL, doing="approved")
    contract_draft_check(draft=contract_as_draft(contract), family_id=contract.family_id)
    contract.status = ContractStatus.ACTIVE
    contract.save(update_fields=["status", "updated_at"])
    _step(contract, ApprovalAction.APPROVED, user, at, comment)
    return contract


def contract_as_draft(contract: Contract) -> ContractDraft:
    """A saved version as a draft (the start of an amendment, the admin form, a re-check)."""
    phases = []
    for phase in contract.phases.prefetch_related("overrides"):
        overrides, fees = phase_drafts(phase)
        phases.append(PhaseDraft(start=phase.start, overrides=overrides, fees=fees))
    return ContractDraft(
        customer=contract.customer.external_id,
        plan=contract.plan.code,
        start=contract.start,
        end=contract.end,
        quantity=Decimal(contract.quantity),
        net_terms_days=contract.net_terms_days,
        phases=tuple(phases),
        commitment=contract.commitment_amount,
        credits=tuple(
            CreditDraft(amount=g.amount, expires_at=g.expires_at, priority=g.priority)
            for g in contract.credit_grants.all()
        ),
        one_off_fees=tuple(
            OneOffDraft(description=f["description"], amount=Decimal(str(f["amount"])))
            for f in contract.one_off_fees
        ),
        entitlements=dict(contract.entitlements),
        notes=contract.notes,
        effective_at=contract.effective_at,
    )


def contract_amend(*, contract_id: int, draft: ContractDraft, user: Any, at: datetime) -> Contract:
    """A new draft version of an active contract, effective from ``draft.effective_at``.

    Credit grants and one-off fees of an amendment are the ones it adds (the earlier version's were
    granted and billed already); customer and plan stay those of the contract.
    """
    if draft.effective_at is None:
        raise ValidationFailed("Say from when the amendment applies.", field="effective_at")
    with transaction.atomic():
        base = lock_contract(contract_id)
        _state(base, ContractStatus.ACTIVE, doing="amended (only an active contract is)")
        if (
            Contract.objects.filter(family_id=base.family_id, version__gt=base.version)
            .exclude(status=ContractStatus.AMENDED)
            .exists()
        ):
            raise Conflict("An amendment of this contract is already in progress.", field="id")
        if draft.effective_at < base.applies_from:
            raise ValidationFailed(
                "An amendment cannot apply before the version it amends.", field="effective_at"
            )
        draft = replace(draft, customer=base.customer.external_id, plan=base.plan.code)
        checked = contract_draft_check(draft=draft, family_id=base.family_id)
        contract = Contract.objects.create(
            **_fields(draft, checked),
            family_id=base.family_id,
            version=base.version + 1,
            subscription=base.subscription,
            created_by=_actor(user),
        )
        _write_terms(contract, draft, checked)
        _step(contract, ApprovalAction.AMENDED, user, at, f"Amends version {base.version}")
    return contract
